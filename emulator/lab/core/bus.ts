/** In-process notifications between lab services (a Key Vault change for Event Grid, a Secret write for the ingress hop). */
import { EventEmitter } from "node:events";

export interface LabEvents {
  /** A Key Vault event to publish through the lab's Key Vault system topic (Event Grid schema, PascalCase data). */
  "keyvault.event": {
    id: string;
    topic: string;
    subject: string;
    eventType: string;
    eventTime: string;
    data: Record<string, unknown>;
    dataVersion: string;
    metadataVersion: string;
  };
  /** Some simulated resource changed: the data plane re-reads what it serves. */
  "resource.changed": { service: string; id: string };
}

export class LabBus {
  private readonly emitter = new EventEmitter().setMaxListeners(100);

  emit<K extends keyof LabEvents>(topic: K, payload: LabEvents[K]): void {
    this.emitter.emit(topic, payload);
  }

  on<K extends keyof LabEvents>(topic: K, listener: (payload: LabEvents[K]) => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }
}
