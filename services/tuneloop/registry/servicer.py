"""The thin gRPC layer of the registry: convert requests, call the core, convert records."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from tuneloop.core.names import check_length
from tuneloop.core.paging import next_token, page_bounds
from tuneloop.core.server import Registration
from tuneloop.core.server import registration as register_servicer
from tuneloop.errors import InvalidArgument
from tuneloop.registry.core import RegistryCore, UploadSpec
from tuneloop.registry.records import (
    AliasChange,
    Event,
    FileEntry,
    Kind,
    Lineage,
    MetricFilter,
    ModelRecord,
    Query,
    Ref,
    VersionRecord,
)
from tuneloop.v1 import registry_pb2, registry_pb2_grpc

KIND_TO_PROTO = {Kind.BASE: registry_pb2.MODEL_KIND_BASE, Kind.FINE_TUNED: registry_pb2.MODEL_KIND_FINE_TUNED}
KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}


def model_to_proto(m: ModelRecord) -> registry_pb2.Model:
    msg = registry_pb2.Model(name=m.name, description=m.description, latest_version=m.latest_version,
                             aliases=m.aliases)
    msg.created_at.FromDatetime(m.created_at)
    return msg


def version_to_proto(v: VersionRecord) -> registry_pb2.ModelVersion:
    lin = v.lineage
    msg = registry_pb2.ModelVersion(
        model=v.model, version=v.version, kind=KIND_TO_PROTO[v.kind], sha256=v.sha256, size_bytes=v.size_bytes,
        files=[registry_pb2.ArtifactFile(path=f.path, sha256=f.sha256, size_bytes=f.size_bytes) for f in v.files],
        tags=v.tags, metrics=v.metrics, aliases=list(v.aliases), description=v.description,
        lineage=registry_pb2.Lineage(base_model=lin.base_model, dataset=lin.dataset, config_json=lin.config_json,
                                     job=lin.job, parent_version=lin.parent_version),
    )
    msg.created_at.FromDatetime(v.created_at)
    return msg


def change_to_proto(c: AliasChange) -> registry_pb2.AliasChange:
    msg = registry_pb2.AliasChange(model=c.model, alias=c.alias, from_version=c.from_version,
                                   to_version=c.to_version, actor=c.actor, reason=c.reason)
    msg.at.FromDatetime(c.at)
    return msg


def event_to_proto(e: Event) -> registry_pb2.Event:
    msg = registry_pb2.Event(id=e.id, type=e.type, model=e.model, version=e.version, alias=e.alias,
                             from_version=e.from_version, actor=e.actor)
    msg.at.FromDatetime(e.at)
    return msg


def ref_from_proto(ref: registry_pb2.VersionRef) -> Ref:
    if ref.version and ref.alias:
        raise InvalidArgument("give a version or an alias, not both")
    return Ref(ref.model, ref.version, ref.alias)


def _actor(context: grpc.ServicerContext, given: str = "") -> str:
    """Who acts: the request's actor field, else the x-tuneloop-actor metadata; at most 200 characters."""
    return check_length(given or dict(context.invocation_metadata()).get("x-tuneloop-actor", ""), 200, "actor")


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, core: RegistryCore) -> None:
        self.core = core

    def CreateModel(self, request, context):
        model = self.core.create_model(request.name, request.description, actor=_actor(context))
        return registry_pb2.CreateModelResponse(model=model_to_proto(model))

    def GetModel(self, request, context):
        return registry_pb2.GetModelResponse(model=model_to_proto(self.core.get_model(request.name)))

    def ListModels(self, request, context):
        limit, offset = page_bounds(request.page.page_size, request.page.page_token)
        found = self.core.list_models(limit=limit, offset=offset)
        return registry_pb2.ListModelsResponse(models=[model_to_proto(m) for m in found],
                                               next_page_token=next_token(offset, limit, len(found)))

    def UploadVersion(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("the first message of an upload must be its header")
        h = first.header
        lin = h.lineage
        spec = UploadSpec(
            model=h.model, create_model=h.create_model, kind=KIND_FROM_PROTO.get(h.kind, Kind.FINE_TUNED),
            files=tuple(FileEntry(f.path, f.sha256, f.size_bytes) for f in h.files), tags=dict(h.tags),
            metrics=dict(h.metrics), description=h.description, allow_pickle=h.allow_pickle,
            lineage=Lineage(lin.base_model, lin.dataset, lin.config_json, lin.job, lin.parent_version),
        )
        record = self.core.upload(spec, self._chunks(request_iterator), actor=_actor(context))
        return registry_pb2.UploadVersionResponse(version=version_to_proto(record))

    @staticmethod
    def _chunks(requests: Iterator) -> Iterator[tuple[str, bytes, str]]:
        for msg in requests:
            if msg.WhichOneof("part") != "chunk":
                raise InvalidArgument("only the first message of an upload may be a header")
            yield msg.chunk.path, msg.chunk.data, msg.chunk.sha256

    def GetModelVersion(self, request, context):
        record = self.core.get_version(ref_from_proto(request.ref))
        return registry_pb2.GetModelVersionResponse(version=version_to_proto(record))

    def SearchVersions(self, request, context):
        limit, offset = page_bounds(request.page.page_size, request.page.page_token)
        query = Query(
            model=request.model, tags=dict(request.tags), alias=request.alias,
            kind=KIND_FROM_PROTO.get(request.kind), dataset=request.dataset,
            metrics=tuple(MetricFilter(m.name, m.op, m.value) for m in request.metrics),
            order_by=request.order_by or "created_at", ascending=request.ascending,
        )
        found = self.core.search(query, limit=limit, offset=offset)
        return registry_pb2.SearchVersionsResponse(versions=[version_to_proto(v) for v in found],
                                                   next_page_token=next_token(offset, limit, len(found)))

    def DownloadVersion(self, request, context):
        record, chunks = self.core.download(ref_from_proto(request.ref), start_path=request.start_path,
                                            start_offset=request.start_offset)
        yield registry_pb2.DownloadVersionResponse(manifest=version_to_proto(record))
        for path, offset, data in chunks:
            yield registry_pb2.DownloadVersionResponse(
                chunk=registry_pb2.DownloadChunk(path=path, offset=offset, data=data))

    def SetAliases(self, request, context):
        model = self.core.set_aliases(request.model, dict(request.aliases), actor=_actor(context, request.actor),
                                      reason=request.reason)
        return registry_pb2.SetAliasesResponse(model=model_to_proto(model))

    def DeleteAlias(self, request, context):
        self.core.delete_alias(request.model, request.alias, actor=_actor(context, request.actor))
        return registry_pb2.DeleteAliasResponse()

    def GetAliasHistory(self, request, context):
        changes = self.core.alias_history(request.model, request.alias)
        return registry_pb2.GetAliasHistoryResponse(changes=[change_to_proto(c) for c in changes])

    def SetTags(self, request, context):
        record = self.core.set_tags(ref_from_proto(request.ref), dict(request.set), list(request.remove),
                                    actor=_actor(context))
        return registry_pb2.SetTagsResponse(version=version_to_proto(record))

    def SetMetrics(self, request, context):
        record = self.core.set_metrics(ref_from_proto(request.ref), dict(request.metrics), actor=_actor(context))
        return registry_pb2.SetMetricsResponse(version=version_to_proto(record))

    def WatchEvents(self, request, context):
        for event in self.core.watch(request.after_id, model=request.model, follow=request.follow,
                                     active=context.is_active):
            yield registry_pb2.WatchEventsResponse(event=event_to_proto(event))


def registration(core: RegistryCore) -> Registration:
    return register_servicer(RegistryServicer(core), registry_pb2_grpc.add_RegistryServiceServicer_to_server,
                             registry_pb2.DESCRIPTOR.services_by_name["RegistryService"])
