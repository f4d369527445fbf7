import assert from "node:assert/strict";
import { test } from "node:test";
import type { RolloutReport } from "../../../src/domain/report.js";
import {
  leavesTargetsOut,
  mergeReports,
  withQueuePlaces,
  withRunningStage,
} from "../../../src/domain/reportMerge.js";
import { aLiveView, aReport, aStage, aTarget } from "../../support/reportBuilders.js";

/** The summary a live view made by aLiveView carries: it becomes the merged report's progress. */
const summary = (shown: number, targets: number) => ({ targets, shown, counts: {}, fullReport: "" });

const STARTED = "2026-06-01T12:01:00.000Z";
const FINISHED = "2026-06-01T12:02:00.000Z";
const first = aTarget({ stepId: "s1", description: "Secret api/one" });
const second = aTarget({ stepId: "s2", description: "Secret api/two" });
const third = aTarget({ stepId: "s3", description: "Secret api/three" });

/** The audit row of a rollout of three Secrets in one stage and one Front Door target in the next. */
const audited = aReport({
  stages: [
    aStage({ index: 1, targets: [first, second, third] }),
    aStage({ index: 2, stage: "frontDoor", targets: [aTarget({ stepId: "fd", kind: "frontDoorProfile" })] }),
  ],
});

const mergeCases: {
  name: string;
  live: RolloutReport;
  audited: RolloutReport | undefined;
  expected: (live: RolloutReport) => unknown;
}[] = [
  {
    name: "a live view that shows every target is the report, whatever the audit row says",
    live: aLiveView(audited, 4, 4),
    audited,
    expected: (live) => live,
  },
  {
    name: "a live view without counts is the report",
    live: audited,
    audited: aReport(),
    expected: (live) => live,
  },
  {
    name: "a live view that leaves targets out is the report when nothing is audited",
    live: aLiveView(audited, 2, 4),
    audited: undefined,
    expected: (live) => live,
  },
  {
    name: "a stage the row shows pending but the live view shows started takes the live status, times and targets shown",
    live: aLiveView(
      aReport({
        stages: [
          aStage({
            index: 1,
            status: "succeeded",
            startedAt: STARTED,
            finishedAt: FINISHED,
            targets: [{ ...second, status: "verified" }],
          }),
        ],
      }),
      1,
      4,
    ),
    audited,
    expected: () => ({
      ...audited,
      stages: [
        {
          ...audited.stages[0],
          status: "succeeded",
          startedAt: STARTED,
          finishedAt: FINISHED,
          targets: [first, { ...second, status: "verified" }, third],
        },
        audited.stages[1],
      ],
      progress: summary(1, 4),
    }),
  },
  {
    name: "a stage the live view has not started keeps the row's entries",
    live: aLiveView(
      aReport({
        stages: [aStage({ index: 1, targets: [{ ...first, queue: { state: "queued", updatesSent: 0 } }] })],
      }),
      1,
      4,
    ),
    audited,
    expected: () => ({ ...audited, progress: summary(1, 4) }),
  },
  {
    name: "a stage the row already shows finished keeps the row's entries",
    live: aLiveView(
      aReport({ stages: [aStage({ index: 1, status: "failed", startedAt: STARTED, targets: [] })] }),
      0,
      4,
    ),
    audited: aReport({ stages: [aStage({ index: 1, status: "succeeded", startedAt: STARTED })] }),
    expected: () => ({
      ...aReport({ stages: [aStage({ index: 1, status: "succeeded", startedAt: STARTED })] }),
      progress: summary(0, 4),
    }),
  },
  {
    name: "a failure the live view shows on a started stage joins the row",
    live: aLiveView(
      aReport({
        stages: [
          aStage({
            index: 2,
            stage: "frontDoor",
            status: "pending",
            startedAt: STARTED,
            failure: { reason: "ProbeDeadlineExceeded", message: "m" },
            targets: [],
          }),
        ],
      }),
      0,
      4,
    ),
    audited,
    expected: () => ({
      ...audited,
      stages: [
        audited.stages[0],
        {
          ...audited.stages[1],
          startedAt: STARTED,
          failure: { reason: "ProbeDeadlineExceeded", message: "m" },
        },
      ],
      progress: summary(0, 4),
    }),
  },
];

for (const c of mergeCases) {
  test(c.name, () => {
    assert.deepEqual(mergeReports(c.live, c.audited), c.expected(c.live));
  });
}

test("only a live view whose counts show fewer targets than planned leaves targets out", () => {
  assert.equal(leavesTargetsOut(aLiveView(audited, 3, 4)), true);
  assert.equal(leavesTargetsOut(aLiveView(audited, 4, 4)), false);
  assert.equal(leavesTargetsOut(audited), false);
});

test("the running stage's own view replaces the rotation's view of that stage only", () => {
  const running = aStage({ index: 2, stage: "frontDoor", startedAt: STARTED, targets: [] });
  const merged = withRunningStage(audited, running);
  assert.deepEqual(merged.stages, [audited.stages[0], running]);
});

test("a target waiting in an APIM queue shows its place; the others are left as they are", () => {
  const stage = aStage({ targets: [first, second] });
  const queue = { state: "waiting" as const, heldBy: "another-holder", updatesSent: 0 };
  assert.deepEqual(withQueuePlaces(stage, new Map([["s2", queue]])).targets, [first, { ...second, queue }]);
  assert.equal(withQueuePlaces(stage, new Map()), stage, "no queue places: the same stage");
});
