// Opaque CEL value types (net.IP, net.CIDR, kubernetes.URL, kubernetes.Quantity,
// kubernetes.NamedFormat, optional_type).
//
// @bufbuild/cel only knows scalars, lists, maps and protobuf messages, and it
// dispatches overloads on the runtime type name. To give the Kubernetes library
// types a distinct CEL type (so `type(ip('1.2.3.4')) == net.IP` holds and
// `x.family()` only matches IPs) each one is a tiny protobuf message with a
// single canonical string field, declared at runtime. Equality then follows
// protobuf equality of that canonical string, which is what Kubernetes'
// types compare by. The parsed form is cached beside the message so that
// methods do not re-parse.
import { create, createFileRegistry, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { isReflectMessage, reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { objectType, type CelObjectType } from "@bufbuild/cel";

function stringField(name: string) {
  return {
    name,
    number: 1,
    type: FieldDescriptorProto_Type.STRING,
    label: FieldDescriptorProto_Label.OPTIONAL,
    jsonName: name,
  };
}

const netFile = create(FileDescriptorProtoSchema, {
  name: "meshops/k8s_cel_net.proto",
  package: "net",
  syntax: "proto3",
  messageType: [
    { name: "IP", field: [stringField("value")] },
    { name: "CIDR", field: [stringField("value")] },
  ],
});
const k8sFile = create(FileDescriptorProtoSchema, {
  name: "meshops/k8s_cel_kubernetes.proto",
  package: "kubernetes",
  syntax: "proto3",
  messageType: [
    { name: "URL", field: [stringField("value")] },
    { name: "Quantity", field: [stringField("value")] },
    { name: "NamedFormat", field: [stringField("value")] },
  ],
});
const optFile = create(FileDescriptorProtoSchema, {
  name: "meshops/k8s_cel_optional.proto",
  package: "",
  syntax: "proto3",
  messageType: [{ name: "optional_type", field: [stringField("value")] }],
});

/** Registry holding the opaque Kubernetes CEL types; pass it to celEnv(). */
export const opaqueRegistry: FileRegistry = createFileRegistry(
  createFileRegistry(netFile, () => undefined),
  createFileRegistry(k8sFile, () => undefined),
  createFileRegistry(optFile, () => undefined),
);

function mustDesc(name: string): DescMessage {
  const d = opaqueRegistry.getMessage(name);
  if (!d) throw new Error(`internal: missing descriptor ${name}`);
  return d;
}

/** A CEL opaque type backed by a one-string-field message and a cached parsed payload. */
export class OpaqueKind<T> {
  readonly desc: DescMessage;
  readonly type: CelObjectType;
  private readonly cache = new WeakMap<object, T>();

  constructor(
    readonly typeName: string,
    private readonly reparse: (repr: string) => T,
  ) {
    this.desc = mustDesc(typeName);
    this.type = objectType(this.desc);
  }

  /** Creates a CEL value; `repr` must be canonical: equal values have equal repr. */
  make(repr: string, data: T): ReflectMessage {
    const msg = create(this.desc, { value: repr } as never);
    this.cache.set(msg, data);
    return reflect(this.desc, msg);
  }

  is(v: unknown): v is ReflectMessage {
    return isReflectMessage(v, this.desc);
  }

  repr(v: ReflectMessage): string {
    return (v.message as unknown as { value: string }).value;
  }

  data(v: ReflectMessage): T {
    const hit = this.cache.get(v.message);
    if (hit !== undefined) return hit;
    const parsed = this.reparse(this.repr(v));
    this.cache.set(v.message, parsed);
    return parsed;
  }
}
