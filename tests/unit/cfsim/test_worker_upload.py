"""Decoding Worker uploads: multipart parsing, metadata validation, entry modules."""

from __future__ import annotations

import json

import pytest

from cfsim.services.worker_models import Module
from cfsim.services.worker_upload import (
    UploadError,
    decode_upload,
    encode_multipart,
    parse_multipart,
)

BOUNDARY = "simboundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"
CODE = b"export default { fetch() { return new Response('hi') } }"


def form(metadata: dict[str, object] | None, *modules: Module) -> bytes:
    """A form with a JSON metadata part (unless None) and the modules."""
    parts = list(modules)
    if metadata is not None:
        parts.insert(0, Module("metadata", json.dumps(metadata).encode(), "application/json"))
    return encode_multipart(tuple(parts), BOUNDARY)


def module(name: str = "index.js", ctype: str = "application/javascript+module") -> Module:
    """One module part."""
    return Module(name, CODE, ctype)


def test_multipart_round_trip() -> None:
    """What encode_multipart writes, parse_multipart reads back."""
    modules = (module(), Module("data.bin", b"\x00\x01", "application/octet-stream"))
    parts = parse_multipart(CTYPE, encode_multipart(modules, BOUNDARY))
    assert [("index.js", CODE), ("data.bin", b"\x00\x01")] == [(p.name, p.data) for p in parts]


def test_decode_module_upload() -> None:
    """A module upload decodes its metadata and entry module."""
    upload = decode_upload(CTYPE, form({"main_module": "index.js"}, module()))
    assert ("index.js", False, ["index.js"]) == (
        upload.main_module,
        upload.service_worker,
        [m.name for m in upload.modules],
    )


def test_raw_javascript_is_a_service_worker() -> None:
    """A raw application/javascript body is a service-worker script."""
    upload = decode_upload("application/javascript", CODE)
    assert (True, CODE) == (upload.service_worker, upload.modules[0].content)


@pytest.mark.parametrize(
    ("metadata", "modules", "fragment"),
    [
        (None, (module(),), "metadata"),
        ({"main_module": "main.js"}, (module(),), "not among the uploaded parts"),
        ({}, (module(),), "main_module"),
        ({"main_module": "index.js", "colour": 1}, (module(),), "colour"),
        ({"main_module": "index.js"}, (module(ctype="text/html"),), "unsupported Content-Type"),
        (
            {"main_module": "index.js", "bindings": [{"type": "kv_namespace", "name": "KV"}]},
            (module(),),
            "namespace_id",
        ),
        (
            {"main_module": "index.js", "annotations": {"workers/message": "x" * 51}},
            (module(),),
            "workers/message",
        ),
    ],
)
def test_bad_uploads_are_explained(
    metadata: dict[str, object] | None, modules: tuple[Module, ...], fragment: str
) -> None:
    """Each refusal names what is wrong."""
    with pytest.raises(UploadError) as err:
        decode_upload(CTYPE, form(metadata, *modules))
    assert fragment in str(err.value)


def test_non_multipart_body_is_refused() -> None:
    """A JSON body is not an upload."""
    with pytest.raises(UploadError):
        parse_multipart("application/json", b"{}")
