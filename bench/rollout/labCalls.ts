/**
 * Counts the requests the lab's ARM, Kubernetes and Key Vault servers answer, by adding one
 * middleware to each server's router in-process (the lab runs in the benchmark's process), so the
 * lab itself is unchanged. ARM sees every request; Kubernetes and Key Vault requests are counted
 * after their authentication middleware (a Key Vault SDK's unauthenticated challenge is not counted).
 */
import { STREAMED } from "../../emulator/lab/core/http.js";
import type { TestLab } from "../../emulator/lab/inProcess.js";

/** One request a lab server answered. */
export interface LabCall {
  server: "arm" | "kubernetes" | "keyVault";
  method: string;
  path: string;
  status: number;
}

/** Counts per kind of request, over a window of {@link LabCalls}. */
export interface CallCounts {
  arm: number;
  armWrites: number;
  apimServiceWrites: number;
  apimConflicts: number;
  frontDoorWrites: number;
  kubernetes: number;
  kubernetesWrites: number;
  keyVault: number;
}

const APIM_SERVICE = /\/providers\/microsoft\.apimanagement\/service\/[^/]+$/i;
const FRONT_DOOR_CHILD = /\/providers\/microsoft\.cdn\/profiles\/[^/]+\/(secrets|customdomains)\/[^/]+$/i;

/** The request log of the lab servers, from the moment it was attached. */
export class LabCalls {
  private readonly calls: LabCall[] = [];

  constructor(lab: TestLab) {
    for (const server of ["arm", "kubernetes", "keyVault"] as const) {
      lab.ctx.servers[server].router.use(async (req, next) => {
        const out = await next();
        this.calls.push({
          server,
          method: req.method,
          path: req.path,
          status: out === STREAMED ? 200 : out.status,
        });
        return out;
      });
    }
  }

  /** A position in the log. */
  mark(): number {
    return this.calls.length;
  }

  /** The requests since `mark`. */
  since(mark: number): LabCall[] {
    return this.calls.slice(mark);
  }

  /** Counts of the requests since `mark`. */
  countSince(mark: number): CallCounts {
    const calls = this.since(mark);
    const of = (server: LabCall["server"]) => calls.filter((c) => c.server === server);
    const write = (c: LabCall) => c.method !== "GET" && c.method !== "HEAD";
    const arm = of("arm");
    const apim = arm.filter((c) => (c.method === "PATCH" || c.method === "PUT") && APIM_SERVICE.test(c.path));
    return {
      arm: arm.length,
      armWrites: arm.filter(write).length,
      apimServiceWrites: apim.filter((c) => c.status < 300).length,
      apimConflicts: apim.filter((c) => c.status === 409 || c.status === 429).length,
      frontDoorWrites: arm.filter((c) => write(c) && FRONT_DOOR_CHILD.test(c.path)).length,
      kubernetes: of("kubernetes").length,
      kubernetesWrites: of("kubernetes").filter(write).length,
      keyVault: of("keyVault").length,
    };
  }
}
