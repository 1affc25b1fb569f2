// The OTLP trace protos (opentelemetry-proto v1: collector/trace/v1,
// trace/v1, common/v1, resource/v1) as a protobufjs JSON descriptor, so the
// server decodes exporters' bodies without a code generator or .proto files
// at run time. Field names are OTLP/JSON's lowerCamelCase; numbers and types
// are the official ones.

import protobuf from "protobufjs";

const f = (type: string, id: number, rule?: "repeated") => (rule ? { type, id, rule } : { type, id });

const descriptor = {
  nested: {
    opentelemetry: {
      nested: {
        proto: {
          nested: {
            common: {
              nested: {
                v1: {
                  nested: {
                    AnyValue: {
                      oneofs: {
                        value: {
                          oneof: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"],
                        },
                      },
                      fields: {
                        stringValue: f("string", 1),
                        boolValue: f("bool", 2),
                        intValue: f("int64", 3),
                        doubleValue: f("double", 4),
                        arrayValue: f("ArrayValue", 5),
                        kvlistValue: f("KeyValueList", 6),
                        bytesValue: f("bytes", 7),
                      },
                    },
                    ArrayValue: { fields: { values: f("AnyValue", 1, "repeated") } },
                    KeyValueList: { fields: { values: f("KeyValue", 1, "repeated") } },
                    KeyValue: { fields: { key: f("string", 1), value: f("AnyValue", 2) } },
                    InstrumentationScope: {
                      fields: {
                        name: f("string", 1),
                        version: f("string", 2),
                        attributes: f("KeyValue", 3, "repeated"),
                        droppedAttributesCount: f("uint32", 4),
                      },
                    },
                  },
                },
              },
            },
            resource: {
              nested: {
                v1: {
                  nested: {
                    Resource: {
                      fields: {
                        attributes: f("opentelemetry.proto.common.v1.KeyValue", 1, "repeated"),
                        droppedAttributesCount: f("uint32", 2),
                      },
                    },
                  },
                },
              },
            },
            trace: {
              nested: {
                v1: {
                  nested: {
                    ResourceSpans: {
                      fields: {
                        resource: f("opentelemetry.proto.resource.v1.Resource", 1),
                        scopeSpans: f("ScopeSpans", 2, "repeated"),
                        schemaUrl: f("string", 3),
                      },
                    },
                    ScopeSpans: {
                      fields: {
                        scope: f("opentelemetry.proto.common.v1.InstrumentationScope", 1),
                        spans: f("Span", 2, "repeated"),
                        schemaUrl: f("string", 3),
                      },
                    },
                    Span: {
                      fields: {
                        traceId: f("bytes", 1),
                        spanId: f("bytes", 2),
                        traceState: f("string", 3),
                        parentSpanId: f("bytes", 4),
                        flags: f("fixed32", 16),
                        name: f("string", 5),
                        kind: f("int32", 6),
                        startTimeUnixNano: f("fixed64", 7),
                        endTimeUnixNano: f("fixed64", 8),
                        attributes: f("opentelemetry.proto.common.v1.KeyValue", 9, "repeated"),
                        droppedAttributesCount: f("uint32", 10),
                        events: f("Event", 11, "repeated"),
                        droppedEventsCount: f("uint32", 12),
                        links: f("Link", 13, "repeated"),
                        droppedLinksCount: f("uint32", 14),
                        status: f("Status", 15),
                      },
                      nested: {
                        Event: {
                          fields: {
                            timeUnixNano: f("fixed64", 1),
                            name: f("string", 2),
                            attributes: f("opentelemetry.proto.common.v1.KeyValue", 3, "repeated"),
                            droppedAttributesCount: f("uint32", 4),
                          },
                        },
                        Link: {
                          fields: {
                            traceId: f("bytes", 1),
                            spanId: f("bytes", 2),
                            traceState: f("string", 3),
                            attributes: f("opentelemetry.proto.common.v1.KeyValue", 4, "repeated"),
                            droppedAttributesCount: f("uint32", 5),
                            flags: f("fixed32", 6),
                          },
                        },
                      },
                    },
                    // StatusCode is an enum in the proto; int32 decodes the same wire bytes.
                    Status: { fields: { message: f("string", 2), code: f("int32", 3) } },
                  },
                },
              },
            },
            collector: {
              nested: {
                trace: {
                  nested: {
                    v1: {
                      nested: {
                        ExportTraceServiceRequest: {
                          fields: { resourceSpans: f("opentelemetry.proto.trace.v1.ResourceSpans", 1, "repeated") },
                        },
                        ExportTraceServiceResponse: { fields: { partialSuccess: f("ExportTracePartialSuccess", 1) } },
                        ExportTracePartialSuccess: { fields: { rejectedSpans: f("int64", 1), errorMessage: f("string", 2) } },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    google: { nested: { rpc: { nested: { Status: { fields: { code: f("int32", 1), message: f("string", 2) } } } } } },
  },
};

const root = protobuf.Root.fromJSON(descriptor);
export const ExportTraceServiceRequest = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest");
export const ExportTraceServiceResponse = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse");
export const RpcStatus = root.lookupType("google.rpc.Status");
