"""Writes the part of Milvus's gRPC schema that bct calls as a FileDescriptorSet.

pymilvus ships the schema only as compiled descriptors (pymilvus/grpc_gen/*_pb2.py).
This keeps MilvusService with the methods in METHODS, every message and enum they
reach (plus EXTRA_ROOTS, which travel as bytes inside other messages), and nothing
else: field numbers, types and names are Milvus's own, so the wire format is
unchanged. Custom options and the extensions that define them are dropped.
Usage: python milvus_descriptors.py OUT.pb
"""
import sys

from google.protobuf import descriptor_pb2
from pymilvus.grpc_gen import milvus_pb2

METHODS = [
    "GetVersion", "CheckHealth",
    "CreateCollection", "DescribeCollection", "HasCollection", "DropCollection", "ShowCollections",
    "LoadCollection", "GetLoadState", "CreateIndex", "DescribeIndex",
    "Insert", "Upsert", "Delete", "Flush", "Query", "Search",
]
EXTRA_ROOTS = [".milvus.proto.common.PlaceholderGroup"]


def files_in_order(fd, seen, order):
    if fd.name in seen:
        return
    seen.add(fd.name)
    for dependency in fd.dependencies:
        files_in_order(dependency, seen, order)
    order.append(fd)


def main(out):
    order = []
    files_in_order(milvus_pb2.DESCRIPTOR, set(), order)
    protos = [descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb) for fd in order]

    # Every top-level message and enum by full name, with the file that declares it.
    top = {}
    for proto in protos:
        prefix = "." + proto.package if proto.package else ""
        for message in proto.message_type:
            top[f"{prefix}.{message.name}"] = (proto.name, message)
        for enum in proto.enum_type:
            top[f"{prefix}.{enum.name}"] = (proto.name, enum)

    def top_level(name):
        while name not in top:
            name = name.rsplit(".", 1)[0]
        return name

    service = next(s for s in protos[-1].service if s.name == "MilvusService")
    methods = [m for m in service.method if m.name in METHODS]
    missing = set(METHODS) - {m.name for m in methods}
    if missing:
        sys.exit(f"MilvusService lacks {sorted(missing)}")
    roots = [t for m in methods for t in (m.input_type, m.output_type)] + EXTRA_ROOTS

    kept, pending = set(), [top_level(r) for r in roots]
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        declaration = top[name][1]
        if isinstance(declaration, descriptor_pb2.DescriptorProto):
            stack = [declaration]
            while stack:
                message = stack.pop()
                stack.extend(message.nested_type)
                pending.extend(top_level(f.type_name) for f in message.field if f.type_name)

    needed_files = {top[name][0] for name in kept}
    result = descriptor_pb2.FileDescriptorSet()
    for proto in protos:
        if proto.name not in needed_files:
            continue
        prefix = "." + proto.package if proto.package else ""
        messages = [m for m in proto.message_type if f"{prefix}.{m.name}" in kept]
        enums = [e for e in proto.enum_type if f"{prefix}.{e.name}" in kept]
        referenced = {top[top_level(f.type_name)][0]
                      for message in messages for f in walk_fields(message) if f.type_name}
        del proto.message_type[:]
        proto.message_type.extend(messages)
        del proto.enum_type[:]
        proto.enum_type.extend(enums)
        del proto.extension[:]
        services = []
        if proto is protos[-1]:
            slim = descriptor_pb2.ServiceDescriptorProto(name=service.name)
            slim.method.extend(methods)
            services = [slim]
            referenced |= {top[top_level(t)][0] for m in methods for t in (m.input_type, m.output_type)}
        del proto.service[:]
        proto.service.extend(services)
        dependencies = [d for d in proto.dependency if d in referenced and d != proto.name]
        del proto.dependency[:]
        proto.dependency.extend(dependencies)
        del proto.public_dependency[:]
        del proto.weak_dependency[:]
        proto.ClearField("source_code_info")
        strip_options(proto)
        result.file.append(proto)
    with open(out, "wb") as f:
        f.write(result.SerializeToString(deterministic=True))
    print(f"{len(methods)} methods, {len(kept)} messages and enums in {[p.name for p in result.file]}")


def walk_fields(message):
    yield from message.field
    for nested in message.nested_type:
        yield from walk_fields(nested)


def strip_options(proto):
    """Drops options that only Milvus's own extensions give meaning to."""
    def clean(descriptor):
        if descriptor.HasField("options"):
            descriptor.options.DiscardUnknownFields()
    for message in proto.message_type:
        stack = [message]
        while stack:
            m = stack.pop()
            clean(m)
            stack.extend(m.nested_type)
            for f in m.field:
                clean(f)
    for service in proto.service:
        for method in service.method:
            clean(method)


if __name__ == "__main__":
    main(sys.argv[1])
