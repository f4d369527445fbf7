/** The in-process read API (registry "arm") over the ARM service's state; see api.ts. */
import type {
  ApimBackendView,
  ApimCertificateView,
  ApimGatewayView,
  ArmLabApi,
  FrontDoorDomainView,
  FrontDoorOriginView,
  ManagedClusterView,
} from "./api.js";
import { key, lastSegment } from "./core/ids.js";
import type { ApimServiceState, ProfileState } from "./core/state.js";
import { textOf } from "../core/text.js";
import type { ArmWorld } from "./core/world.js";
import { profileId } from "./cdn/frontDoor.js";
import { serviceId } from "./apim/apim.js";
import { clusterId } from "./containerservice/managedClusters.js";

export function createArmApi(world: ArmWorld): ArmLabApi {
  const origins = (profile: ProfileState, groupFilter?: string): FrontDoorOriginView[] =>
    Object.values(profile.originGroups)
      .filter((g) => !groupFilter || key(g.name) === key(groupFilter))
      .flatMap((g) =>
        Object.values(g.origins).map((o) => ({
          id: `${profileId(world, profile.name)}/originGroups/${g.name}/origins/${o.name}`,
          profileName: profile.name,
          originGroupName: g.name,
          name: o.name,
          hostName: String(o.properties.hostName),
          originHostHeader:
            typeof o.properties.originHostHeader === "string" ? o.properties.originHostHeader : undefined,
          httpsPort: Number(o.properties.httpsPort ?? 443),
          enforceCertificateNameCheck: o.properties.enforceCertificateNameCheck !== false,
          enabled: o.properties.enabledState !== "Disabled",
        })),
      );

  const domains = (): FrontDoorDomainView[] =>
    Object.values(world.state.profiles).flatMap((profile) =>
      Object.values(profile.customDomains).map((d) => {
        const id = `${profileId(world, profile.name)}/customDomains/${d.name}`;
        const routes = Object.values(profile.endpoints).flatMap((e) =>
          Object.values(e.routes)
            .filter((r) =>
              ((r.properties.customDomains as { id: string }[] | undefined) ?? []).some(
                (c) => key(c.id) === key(id),
              ),
            )
            .map((r) => ({ endpoint: String(e.properties.hostName), route: r })),
        );
        const groups = routes.map((r) => lastSegment((r.route.properties.originGroup as { id: string }).id));
        const view: FrontDoorDomainView = {
          id,
          profileName: profile.name,
          name: d.name,
          hostName: String(d.properties.hostName),
          minimumTlsVersion: d.effective.minimumTlsVersion,
          deploymentStatus: d.deploymentStatus as FrontDoorDomainView["deploymentStatus"],
          effectiveSince: d.effective.since,
          endpointHostNames: routes.map((r) => r.endpoint),
          origins: groups.flatMap((g) => origins(profile, g)),
        };
        if (d.effective.secretId && d.effective.keyVault) {
          view.certificate = {
            secretId: d.effective.secretId,
            keyVault: { ...d.effective.keyVault },
            thumbprint: d.effective.thumbprint,
          };
        }
        return view;
      }),
    );

  const gateway = (s: ApimServiceState): ApimGatewayView => {
    const certificate = (id: string): ApimCertificateView | undefined => {
      const c = s.certificates[key(lastSegment(id))];
      if (!c) return undefined;
      return {
        id: `${serviceId(world, s.name)}/certificates/${c.name}`,
        name: c.name,
        keyVault: c.keyVault ? { ...c.keyVault } : undefined,
        thumbprint: c.properties.thumbprint as string | undefined,
        expirationDate: c.properties.expirationDate as string | undefined,
        subject: c.properties.subject as string | undefined,
      };
    };
    const backends: ApimBackendView[] = Object.values(s.backends).map((b) => {
      const p = b.properties;
      const tls = (p.tls ?? {}) as { validateCertificateChain?: boolean; validateCertificateName?: boolean };
      const ids = ((p.credentials as { certificateIds?: string[] } | undefined)?.certificateIds ?? []).map(
        certificate,
      );
      return {
        id: `${serviceId(world, s.name)}/backends/${b.name}`,
        name: b.name,
        url: String(p.url),
        protocol: textOf(p.protocol ?? "http"),
        tls: {
          validateCertificateChain: tls.validateCertificateChain !== false,
          validateCertificateName: tls.validateCertificateName !== false,
        },
        clientCertificates: ids.filter((c): c is ApimCertificateView => c !== undefined),
      };
    });
    return {
      id: serviceId(world, s.name),
      name: s.name,
      provisioningState: s.provisioningState,
      hostnames: s.applied.hostnames.map((h) => ({
        ...h,
        keyVault: h.keyVault ? { ...h.keyVault } : undefined,
      })),
      effectiveSince: s.applied.since,
      backends,
    };
  };

  return {
    get armUrl() {
      return world.armUrl;
    },
    frontDoorDomains: domains,
    frontDoorDomain: (hostName) => domains().find((d) => key(d.hostName) === key(hostName)),
    frontDoorOrigins: () => Object.values(world.state.profiles).flatMap((p) => origins(p)),
    apimGateways: () => Object.values(world.state.apim).map(gateway),
    apimGatewayFor(hostName) {
      for (const s of Object.values(world.state.apim)) {
        const g = gateway(s);
        const h = g.hostnames.find((x) => key(x.hostName) === key(hostName));
        if (h) return { gateway: g, hostname: h };
      }
      return undefined;
    },
    managedClusters: (): ManagedClusterView[] =>
      Object.values(world.state.clusters).map((c) => ({
        id: clusterId(world, c.name),
        name: c.name,
        fqdn: String(c.properties.fqdn),
        privateFqdn: String(c.properties.privateFQDN),
        apiServerUrl: c.apiServerUrl,
      })),
  };
}
