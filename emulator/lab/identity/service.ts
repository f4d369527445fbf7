/**
 * The App Service managed-identity endpoint, as a Function App sees it: `IDENTITY_ENDPOINT` (plain
 * HTTP on loopback, as in App Service) + `IDENTITY_HEADER`, api-version 2019-08-01, so that
 * `DefaultAzureCredential` / `ManagedIdentityCredential` work unchanged.
 */
import { randomBytes } from "node:crypto";
import { Router, listenHttp } from "../core/http.js";
import type { LabContext, LabService } from "../core/lab.js";

/** Default port of the identity endpoint; 0 under ephemeral ports. */
export const IDENTITY_PORT = 8439;

export function identityService(options: { port?: number } = {}): LabService {
  return {
    name: "identity",
    async start(ctx: LabContext) {
      const { secret } = ctx.store.load("identity", () => ({ secret: randomBytes(24).toString("hex") }));
      ctx.store.save("identity", { secret });
      const defaultIdentity = ctx.seed.identities.controlPlane;
      const router = new Router();
      router.on("GET", "/msi/token", async (req) => {
        if (req.headers["x-identity-header"] !== secret) {
          return {
            status: 401,
            body: { statusCode: 401, message: "The X-IDENTITY-HEADER header is missing or wrong." },
          };
        }
        const resource = req.query.get("resource");
        if (!resource)
          return {
            status: 400,
            body: { statusCode: 400, message: "The 'resource' query parameter is required." },
          };
        const requested =
          req.query.get("client_id") ??
          req.query.get("object_id") ??
          req.query.get("principal_id") ??
          req.query.get("mi_res_id");
        const identity = ctx.auth.identity(requested ?? defaultIdentity.clientId);
        if (!identity) {
          return {
            status: 400,
            body: { statusCode: 400, message: `No managed identity '${requested}' is assigned to this app.` },
          };
        }
        const audience = resource.replace(/\/\.default$/, "");
        const { token, expiresOn } = await ctx.auth.issueToken(identity, audience);
        return {
          status: 200,
          body: {
            access_token: token,
            expires_on: String(expiresOn),
            resource: audience,
            token_type: "Bearer",
            client_id: identity.clientId,
          },
        };
      });
      const server = await listenHttp(router.listener, options.port ?? 0);
      ctx.onStop(() => server.close());
      const endpoint = `${server.url}/msi/token`;
      ctx.endpoints.identity = { endpoint, header: secret, clientId: defaultIdentity.clientId };
      ctx.env.IDENTITY_ENDPOINT = endpoint;
      ctx.env.IDENTITY_HEADER = secret;
      ctx.env.AZURE_CLIENT_ID = defaultIdentity.clientId;
    },
  };
}
