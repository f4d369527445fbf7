/**
 * The read routes of the lab's Front Door child resources (secrets, custom domains, endpoints and
 * their routes, origin groups and their origins), through @azure/arm-cdn and raw ARM calls: list and
 * get answer the same JSON, names match case-insensitively, a missing item, a missing parent and a
 * missing profile get Front Door's and ARM's 404s, and an identity without a role gets ARM's 403
 * naming the read action of the resource type.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { ARM_SCOPE, armFetch, cdnClient, credentialFor, type ArmErrorBody } from "./armClients.js";

let lab: TestLab;
before(async () => {
  lab = await startTestLab();
});
after(() => lab?.dispose());

const API = "api-version=2024-02-01";

/** One collection: where it is listed, an item in it, and the names its answers use. */
interface Collection {
  title: string;
  /** The list path (no query). */
  list: string;
  item: string;
  /** `type` in the JSON. */
  jsonType: string;
  /** The resource type of the RBAC action. */
  rbacType: string;
  /** The type Front Door's 404 names. */
  notFound: string;
  /** A nested collection: its list path under a missing parent, and the 404 that names the parent. */
  missingParent?: { list: string; notFound: string; name: string };
}

const collections = (): Collection[] => {
  const s = lab.ctx.seed;
  const profile = `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}/providers/Microsoft.Cdn/profiles/${s.frontDoor.profile}`;
  const endpoint = `${profile}/afdEndpoints/${s.frontDoor.endpoint}`;
  const group = `${profile}/originGroups/${s.frontDoor.originGroup}`;
  return [
    {
      title: "secrets",
      list: `${profile}/secrets`,
      item: s.frontDoor.secret,
      jsonType: "Microsoft.Cdn/profiles/secrets",
      rbacType: "Microsoft.Cdn/profiles/secrets",
      notFound: "secrets",
    },
    {
      title: "custom domains",
      list: `${profile}/customDomains`,
      item: Object.keys(s.frontDoor.customDomains)[0]!,
      jsonType: "Microsoft.Cdn/profiles/customdomains",
      rbacType: "Microsoft.Cdn/profiles/customDomains",
      notFound: "customDomains",
    },
    {
      title: "endpoints",
      list: `${profile}/afdEndpoints`,
      item: s.frontDoor.endpoint,
      jsonType: "Microsoft.Cdn/profiles/afdendpoints",
      rbacType: "Microsoft.Cdn/profiles/afdEndpoints",
      notFound: "afdEndpoints",
    },
    {
      title: "routes",
      list: `${endpoint}/routes`,
      item: "api-route",
      jsonType: "Microsoft.Cdn/profiles/afdendpoints/routes",
      rbacType: "Microsoft.Cdn/profiles/afdEndpoints/routes",
      notFound: "routes",
      missingParent: {
        list: `${profile}/afdEndpoints/no-such-endpoint/routes`,
        notFound: "afdEndpoints",
        name: "no-such-endpoint",
      },
    },
    {
      title: "origin groups",
      list: `${profile}/originGroups`,
      item: s.frontDoor.originGroup,
      jsonType: "Microsoft.Cdn/profiles/origingroups",
      rbacType: "Microsoft.Cdn/profiles/originGroups",
      notFound: "originGroups",
    },
    {
      title: "origins",
      list: `${group}/origins`,
      item: s.frontDoor.origin,
      jsonType: "Microsoft.Cdn/profiles/origingroups/origins",
      rbacType: "Microsoft.Cdn/profiles/originGroups/origins",
      notFound: "origins",
      missingParent: {
        list: `${profile}/originGroups/no-such-group/origins`,
        notFound: "originGroups",
        name: "no-such-group",
      },
    },
  ];
};

const frontDoorNotFound = (type: string, name: string) => ({
  error: { code: "NotFound", message: `The requested resource '${type}' with name '${name}' was not found.` },
});

test("list and get of every child collection answer the same item, by any casing of its name", async () => {
  for (const c of collections()) {
    const list = await armFetch<{ value: { name: string; type: string; id: string }[] }>(
      lab,
      "GET",
      `${c.list}?${API}`,
    );
    assert.equal(list.status, 200, `${c.title}: ${JSON.stringify(list.body)}`);
    const listed = list.body.value.find((v) => v.name === c.item);
    assert.ok(listed, `${c.title} lists ${c.item}: ${JSON.stringify(list.body)}`);
    const got = await armFetch(lab, "GET", `${c.list}/${c.item}?${API}`);
    assert.equal(got.status, 200, `${c.title}: ${JSON.stringify(got.body)}`);
    assert.deepEqual(got.body, listed, `${c.title}: get answers what list shows`);
    assert.equal(got.body.type, c.jsonType, c.title);
    assert.equal(got.body.id.toLowerCase(), `${c.list}/${c.item}`.toLowerCase(), c.title);
    const upper = await armFetch(lab, "GET", `${c.list}/${c.item.toUpperCase()}?${API}`);
    assert.deepEqual([upper.status, upper.body], [200, listed], `${c.title}: names are case-insensitive`);
  }
});

test("a missing item, a missing parent and a missing profile get Front Door's and ARM's 404s", async () => {
  // ARM checks the role before it looks: these calls go as the operator, given Reader on the whole
  // subscription here (the control plane has rights on its profile only).
  const s0 = lab.ctx.seed;
  lab.ctx.auth.assign(s0.identities.operator.objectId, "Reader", `/subscriptions/${s0.subscriptionId}`);
  const token = (await credentialFor("operator", lab).getToken(ARM_SCOPE))!.token;
  for (const c of collections()) {
    const missing = await armFetch(lab, "GET", `${c.list}/no-such-item?${API}`);
    assert.deepEqual(
      [missing.status, missing.body],
      [404, frontDoorNotFound(c.notFound, "no-such-item")],
      c.title,
    );
    if (c.missingParent) {
      const p = c.missingParent;
      const list = await armFetch(lab, "GET", `${p.list}?${API}`);
      assert.deepEqual(
        [list.status, list.body],
        [404, frontDoorNotFound(p.notFound, p.name)],
        `${c.title}: list`,
      );
      const get = await armFetch(lab, "GET", `${p.list}/${c.item}?${API}`);
      assert.deepEqual(
        [get.status, get.body],
        [404, frontDoorNotFound(c.notFound, c.item)],
        `${c.title}: get`,
      );
    }
    const s = lab.ctx.seed;
    const otherProfile = c.list.replace(`/profiles/${s.frontDoor.profile}/`, "/profiles/no-such-profile/");
    for (const path of [otherProfile, `${otherProfile}/${c.item}`]) {
      const answer = await armFetch<ArmErrorBody>(lab, "GET", `${path}?${API}`, { token });
      assert.equal(answer.status, 404, `${c.title}: ${path}`);
      assert.equal(answer.body.error.code, "ResourceNotFound", `${c.title}: ${path}`);
    }
    const otherGroup = c.list.replace(`/resourceGroups/${s.resourceGroup}/`, "/resourceGroups/rg-elsewhere/");
    const group = await armFetch<ArmErrorBody>(lab, "GET", `${otherGroup}?${API}`, { token });
    assert.deepEqual([group.status, group.body.error.code], [404, "ResourceGroupNotFound"], c.title);
    const noVersion = await armFetch<ArmErrorBody>(lab, "GET", c.list);
    assert.deepEqual(
      [noVersion.status, noVersion.body.error.code],
      [400, "MissingApiVersionParameter"],
      c.title,
    );
  }
});

test("an identity without a role gets 403 AuthorizationFailed naming each type's read action", async () => {
  const token = (await credentialFor("nobody", lab).getToken(ARM_SCOPE))!.token;
  for (const c of collections()) {
    for (const path of [c.list, `${c.list}/${c.item}`]) {
      const answer = await armFetch<ArmErrorBody>(lab, "GET", `${path}?${API}`, { token });
      assert.equal(answer.status, 403, `${c.title}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error.code, "AuthorizationFailed");
      assert.ok(
        answer.body.error.message.includes(`perform action '${c.rbacType}/read' over scope '${path}'`),
        `${c.title}: ${answer.body.error.message}`,
      );
    }
  }
});

test("@azure/arm-cdn reads endpoints, routes, origin groups and origins", async () => {
  const s = lab.ctx.seed;
  const rg = s.resourceGroup;
  const profile = s.frontDoor.profile;
  const cdn = cdnClient(lab);
  const names = async <T extends { name?: string }>(items: AsyncIterable<T>) => {
    const out: (string | undefined)[] = [];
    for await (const i of items) out.push(i.name);
    return out;
  };
  assert.deepEqual(await names(cdn.afdEndpoints.listByProfile(rg, profile)), [s.frontDoor.endpoint]);
  assert.deepEqual(await names(cdn.routes.listByEndpoint(rg, profile, s.frontDoor.endpoint)), ["api-route"]);
  assert.deepEqual(await names(cdn.afdOriginGroups.listByProfile(rg, profile)), [s.frontDoor.originGroup]);
  assert.deepEqual(await names(cdn.afdOrigins.listByOriginGroup(rg, profile, s.frontDoor.originGroup)), [
    s.frontDoor.origin,
  ]);
  const route = await cdn.routes.get(rg, profile, s.frontDoor.endpoint, "api-route");
  assert.equal(route.endpointName, s.frontDoor.endpoint);
  assert.equal(route.originGroup?.id?.split("/").pop(), s.frontDoor.originGroup);
  const origin = await cdn.afdOrigins.get(rg, profile, s.frontDoor.originGroup, s.frontDoor.origin);
  assert.equal(origin.originGroupName, s.frontDoor.originGroup);
  assert.equal(origin.hostName, s.certificates.apim.hosts[0]);
  const endpoint = await cdn.afdEndpoints.get(rg, profile, s.frontDoor.endpoint);
  assert.equal(endpoint.profileName, profile);
});
