/**
 * What each data-plane hop serves, as "deployment views": per host name, the certificate chain and
 * key that are deployed now, plus the forwarding configuration towards the next hop. The hops only
 * ever read these views; adapters (adapters.ts) build them from the management-plane services'
 * in-process APIs (Key Vault, ARM, Kubernetes), and tests may supply their own.
 */

/** A certificate chain (leaf first) and its private key, PEM. Never logged or persisted by the edge. */
export interface TlsMaterial {
  chainPem: string;
  keyPem: string;
}

/** A certificate a hop serves or presents, with a human label of where it came from (no secrets). */
export interface ServedCertificate extends TlsMaterial {
  /** E.g. `kv-contoso/secrets/edge-contoso/<version>` or `secret api/backend-tls@42`. */
  source: string;
}

/** One Front Door custom domain, as deployed on the profile (deployment finished). */
export interface FrontDoorDomainView {
  hostName: string;
  /** The certificate of the secret version bound to the domain, once its deployment finished. */
  certificate?: ServedCertificate;
  /**
   * Lab-clock time at which the deployment of `certificate` finished; each edge location starts
   * serving it `propagationDelayMs` later. Absent: the moment the edge first saw it.
   */
  deployedAt?: Date;
  /** The origin the route forwards to (first origin of the route's origin group). */
  origin?: FrontDoorOriginView;
}

export interface FrontDoorOriginView {
  hostName: string;
  /** Host header sent to the origin (defaults to `hostName`). */
  originHostHeader?: string;
  /** Front Door's "certificate subject name validation"; on by default. */
  enforceCertificateNameCheck: boolean;
}

export interface FrontDoorView {
  domains: FrontDoorDomainView[];
}

/** One APIM gateway (Proxy) hostname, as deployed after the last completed service update. */
export interface ApimHostnameView {
  hostName: string;
  certificate?: ServedCertificate;
}

/** The backend the gateway forwards to (the `backends` entity of the API). */
export interface ApimBackendView {
  /** E.g. `https://backend.contoso.test/`. */
  url: string;
  /** The `certificates` entity referenced by `credentials.certificateIds[0]`, resolved from Key Vault. */
  clientCertificate?: ServedCertificate;
  /** `tls.validateCertificateChain` (Azure's default: true). */
  validateCertificateChain: boolean;
  /** `tls.validateCertificateName` (Azure's default: true). */
  validateCertificateName: boolean;
}

export interface ApimView {
  hostnames: ApimHostnameView[];
  backend?: ApimBackendView;
}

/** One ingress-nginx server block: an Ingress host with its TLS Secret and client-certificate settings. */
export interface IngressHostView {
  hostName: string;
  /** `tls.crt` + `tls.key` of the Secret named in the Ingress `tls` section. */
  certificate?: ServedCertificate;
  /** From `auth-tls-secret` / `auth-tls-verify-client`. */
  clientAuth?: {
    /** `ca.crt` of the auth-tls Secret (PEM bundle); may be absent when the Secret lacks it. */
    caPem?: string;
    verify: "on" | "off" | "optional" | "optional_no_ca";
    /** `auth-tls-pass-certificate-to-upstream`. */
    passCertificateToUpstream: boolean;
  };
}

export interface IngressView {
  hosts: IngressHostView[];
}

/** Reads a view; called after every `resource.changed` on the lab bus and on a short poll. */
export interface ViewSource<T> {
  read(): T | Promise<T>;
}

/** The three views the edge serves from. */
export interface EdgeSources {
  frontDoor: ViewSource<FrontDoorView>;
  apim: ViewSource<ApimView>;
  ingress: ViewSource<IngressView>;
}
