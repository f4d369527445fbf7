// Pure tests of the host's route templates and timer schedules (kept next to the host's integration tests).
import assert from "node:assert/strict";
import { test } from "node:test";
import { compareRoutes, parseRoute } from "../../../emulator/host/routes.js";
import { parseSchedule } from "../../../emulator/host/timers.js";

const cases: {
  name: string;
  template: string;
  path: string;
  expected: Record<string, string> | undefined;
}[] = [
  {
    name: "a literal route matches case-insensitively",
    template: "Rollouts/Status",
    path: "/rollouts/status",
    expected: {},
  },
  {
    name: "a parameter takes one segment",
    template: "items/{id}",
    path: "/items/a%2Fb",
    expected: { id: "a/b" },
  },
  {
    name: "a parameter does not take two segments",
    template: "items/{id}",
    path: "/items/a/b",
    expected: undefined,
  },
  {
    name: "an int constraint accepts digits",
    template: "items/{id:int}",
    path: "/items/-12",
    expected: { id: "-12" },
  },
  {
    name: "an int constraint refuses letters",
    template: "items/{id:int}",
    path: "/items/1x",
    expected: undefined,
  },
  {
    name: "an int constraint refuses values beyond 32 bits",
    template: "items/{id:int}",
    path: "/items/2147483648",
    expected: undefined,
  },
  { name: "chained constraints all apply", template: "p/{n:int:min(10)}", path: "/p/9", expected: undefined },
  {
    name: "a range constraint accepts a value inside",
    template: "p/{n:range(1,5)}",
    path: "/p/5",
    expected: { n: "5" },
  },
  {
    name: "a regex constraint may contain colons and braces",
    template: "c/{v:regex(^a:\\d{{2}}$)}",
    path: "/c/a:42",
    expected: { v: "a:42" },
  },
  { name: "an optional parameter may be absent", template: "hello/{name?}", path: "/hello", expected: {} },
  {
    name: "an optional constrained parameter may be absent",
    template: "hello/{n:int?}",
    path: "/hello/",
    expected: {},
  },
  {
    name: "a default value fills an absent parameter",
    template: "page/{n=1}",
    path: "/page",
    expected: { n: "1" },
  },
  {
    name: "a catch-all takes the rest",
    template: "files/{*rest}",
    path: "/files/a/b/c",
    expected: { rest: "a/b/c" },
  },
  { name: "a catch-all may be empty", template: "files/{*rest}", path: "/files", expected: {} },
  {
    name: "a complex segment splits on literals",
    template: "f/{name}.{ext}",
    path: "/f/report.pdf",
    expected: { name: "report", ext: "pdf" },
  },
  {
    name: "a guid constraint accepts a guid",
    template: "g/{id:guid}",
    path: "/g/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    expected: { id: "3f2504e0-4f89-11d3-9a0c-0305e82c3301" },
  },
  {
    name: "a bool constraint refuses other words",
    template: "b/{flag:bool}",
    path: "/b/yes",
    expected: undefined,
  },
];

for (const c of cases) {
  test(`route: ${c.name}`, () => {
    assert.deepEqual(parseRoute(c.template).match(c.path), c.expected);
  });
}

test("route: invalid templates are refused with the reason", () => {
  assert.throws(() => parseRoute("a/{*rest}/b"), /catch-all parameter 'rest' must be the last segment/);
  assert.throws(() => parseRoute("a/{id:unknown}"), /constraint 'unknown' is not supported/);
  assert.throws(() => parseRoute("a/{id"), /unclosed/);
});

test("route: literal segments sort before parameters, parameters before catch-alls", () => {
  const routes = ["items/{*rest}", "items/{id}", "items/{id:int}", "items/new"].map(parseRoute);
  assert.deepEqual(
    routes.sort(compareRoutes).map((r) => r.template),
    ["items/new", "items/{id:int}", "items/{id}", "items/{*rest}"],
  );
});

test("schedule: a six-field NCRONTAB expression has seconds", () => {
  const s = parseSchedule("*/15 * * * * *");
  assert.equal(s.next(new Date("2030-05-01T10:00:07Z")).toISOString(), "2030-05-01T10:00:15.000Z");
});

test("schedule: five fields are accepted without seconds", () => {
  const s = parseSchedule("30 2 * * *");
  assert.equal(s.next(new Date("2030-05-01T10:00:00Z")).toISOString(), "2030-05-02T02:30:00.000Z");
});

test("schedule: a schedule is evaluated in the given time zone", () => {
  const s = parseSchedule("0 0 9 * * *", "Europe/Paris");
  assert.equal(s.next(new Date("2030-01-10T00:00:00Z")).toISOString(), "2030-01-10T08:00:00.000Z");
});

test("schedule: a TimeSpan repeats at that interval", () => {
  const s = parseSchedule("00:05:00");
  assert.equal(s.next(new Date("2030-05-01T10:00:07Z")).toISOString(), "2030-05-01T10:05:07.000Z");
});

test("schedule: invalid expressions are refused with the reason", () => {
  assert.throws(() => parseSchedule("every minute"), /not an NCRONTAB expression/);
  assert.throws(() => parseSchedule("0 0 25 * * *"), /not valid/);
  assert.throws(() => parseSchedule("00:00:00"), /zero TimeSpan/);
});
