// Replaces @smithy/core/event-streams in the Lambda bundles (see lib/bundle.ts). The protocol layer
// loads it only for operations with event-stream members; DynamoDB has none, yet the serde and its
// codec added about 15 KB to every bundle. Reaching this module means a streaming operation was added.

function unsupported(): never {
  throw new Error("Event streams are not bundled into the sessions functions (see lib/bundle.ts)");
}

export class EventStreamSerde {
  constructor() {
    unsupported();
  }
}

export const eventStreamSerdeProvider = (): never => unsupported();
