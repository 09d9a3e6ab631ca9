"""The offline stand-in google provider (terraform/offline/provider.py, issue 20).

The generated stubs and the compiled schema come from `terraform/offline/check.py --prepare`, run
with .venv-tfplugin's interpreter (the same step `make tf-validate` runs; cached, so instant after
it). Without that venv, or without npm access on a cold cache, the tests skip and say why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OFFLINE = REPO / "terraform" / "offline"
TFPLUGIN_PYTHON = REPO / ".venv-tfplugin" / "bin" / "python"
HANDSHAKE = re.compile(r"^1\|5\|tcp\|127\.0\.0\.1:(\d+)\|grpc\|(.*)$")


def _load_provider_module():
    spec = importlib.util.spec_from_file_location("ledgerline_offline_provider", OFFLINE / "provider.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


provider = _load_provider_module()


@pytest.fixture(scope="module")
def artefacts() -> dict:
    if not TFPLUGIN_PYTHON.exists():
        pytest.skip("no .venv-tfplugin (make venv-tfplugin): it generates the stubs and the schema")
    done = subprocess.run(
        [str(TFPLUGIN_PYTHON), str(OFFLINE / "check.py"), "--prepare"], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        pytest.skip(f"check.py --prepare failed (npm offline on a cold cache?): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout[done.stdout.index("{") :])


@pytest.fixture(scope="module")
def pb(artefacts):
    tfplugin5, _, _ = provider.load_stubs(artefacts["stubs"])
    return tfplugin5


@pytest.fixture(scope="module")
def stubs(artefacts):
    sys.path.insert(0, artefacts["stubs"])
    import goplugin_pb2
    import health_pb2
    import health_pb2_grpc
    import tfplugin5_pb2
    import tfplugin5_pb2_grpc

    return tfplugin5_pb2, tfplugin5_pb2_grpc, health_pb2, health_pb2_grpc, goplugin_pb2


def _fields(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def test_field_numbers_are_the_protocols(pb):
    """The wire format is the field numbers: these are tfplugin5's (protocol 5.8, Terraform 1.11)."""
    assert _fields(pb.DynamicValue) == {"msgpack": 1, "json": 2}
    assert _fields(pb.Diagnostic) == {"severity": 1, "summary": 2, "detail": 3}
    assert _fields(pb.Schema) == {"version": 1, "block": 2}
    assert _fields(pb.Schema.Block) == {
        "version": 1,
        "attributes": 2,
        "block_types": 3,
        "description": 4,
        "deprecated": 6,
    }
    assert _fields(pb.Schema.Attribute) == {
        "name": 1,
        "type": 2,
        "description": 3,
        "required": 4,
        "optional": 5,
        "computed": 6,
        "sensitive": 7,
        "deprecated": 9,
    }
    assert _fields(pb.Schema.NestedBlock) == {"type_name": 1, "block": 2, "nesting": 3, "min_items": 4, "max_items": 5}
    assert dict(pb.Schema.NestedBlock.NestingMode.items()) == {
        "INVALID": 0,
        "SINGLE": 1,
        "LIST": 2,
        "SET": 3,
        "MAP": 4,
        "GROUP": 5,
    }
    assert _fields(pb.GetProviderSchema.Response) == {
        "provider": 1,
        "resource_schemas": 2,
        "data_source_schemas": 3,
        "diagnostics": 4,
        "provider_meta": 5,
        "server_capabilities": 6,
    }
    assert _fields(pb.ServerCapabilities) == {
        "plan_destroy": 1,
        "get_provider_schema_optional": 2,
        "move_resource_state": 3,
    }
    assert _fields(pb.PlanResourceChange.Response) == {"planned_state": 1, "diagnostics": 4}
    assert _fields(pb.ApplyResourceChange.Response) == {"new_state": 1, "diagnostics": 3}
    service = pb.DESCRIPTOR.services_by_name["Provider"]
    assert service.methods_by_name["GetSchema"].input_type.full_name == "tfplugin5.GetProviderSchema.Request"


def test_block_conversion(pb):
    block = provider.block_message(
        pb,
        {
            "attributes": {
                "name": {"type": "string", "required": True},
                "labels": {"type": ["map", "string"], "optional": True},
                "id": {"type": "string", "optional": True, "computed": True},
                "state": {"type": ["list", ["object", {"a": "number"}]], "computed": True},
            },
            "block_types": {
                "retry": {
                    "nesting_mode": "list",
                    "max_items": 1,
                    "block": {"attributes": {"b": {"type": "bool", "optional": True}}},
                },
                "rule": {"nesting_mode": "set", "min_items": 1, "block": {"attributes": {}}},
                "one": {"nesting_mode": "single", "block": {"attributes": {}}},
            },
        },
    )
    attrs = {a.name: a for a in block.attributes}
    assert [a.name for a in block.attributes] == sorted(attrs)
    assert attrs["name"].required and not attrs["name"].optional and not attrs["name"].computed
    assert attrs["id"].optional and attrs["id"].computed
    # The type is the JSON encoding of the cty type: what core decodes with ctyjson.
    assert json.loads(attrs["labels"].type) == ["map", "string"]
    assert json.loads(attrs["state"].type) == ["list", ["object", {"a": "number"}]]
    nested = {b.type_name: b for b in block.block_types}
    assert nested["retry"].nesting == pb.Schema.NestedBlock.LIST and nested["retry"].max_items == 1
    assert nested["retry"].block.attributes[0].name == "b"
    assert nested["rule"].nesting == pb.Schema.NestedBlock.SET and nested["rule"].min_items == 1
    assert nested["one"].nesting == pb.Schema.NestedBlock.SINGLE

    with pytest.raises(ValueError, match="nesting mode"):
        provider.block_message(pb, {"block_types": {"x": {"nesting_mode": "tuple", "block": {}}}})


def test_compiled_schema_is_the_json_schema(pb, artefacts):
    response = pb.GetProviderSchema.Response.FromString(Path(artefacts["schema_pb"]).read_bytes())
    google = json.loads(Path(artefacts["schema_json"]).read_text())["provider_schemas"][provider.PROVIDER_ADDRESS]
    assert set(response.resource_schemas) == set(google["resource_schemas"])
    assert set(response.data_source_schemas) == set(google["data_source_schemas"])
    assert len(response.resource_schemas) > 1000
    assert response.server_capabilities.get_provider_schema_optional

    subscription = response.resource_schemas["google_pubsub_subscription"].block
    attrs = {a.name: a for a in subscription.attributes}
    assert attrs["name"].required
    assert attrs["topic"].required
    assert attrs["message_retention_duration"].optional and not attrs["message_retention_duration"].required
    blocks = {b.type_name: b for b in subscription.block_types}
    assert blocks["dead_letter_policy"].max_items == 1
    assert {a.name for a in blocks["push_config"].block.attributes} >= {"push_endpoint", "attributes"}

    project = response.data_source_schemas["google_project"].block
    assert {a.name: a for a in project.attributes}["number"].computed


def _start(artefacts, **env):
    return subprocess.Popen(
        [artefacts["python"], str(OFFLINE / "provider.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k not in (provider.MAGIC_COOKIE_KEY, "PLUGIN_CLIENT_CERT")},
            provider.STUBS_ENV: artefacts["stubs"],
            provider.SCHEMA_ENV: artefacts["schema_pb"],
            **env,
        },
    )


def test_without_the_magic_cookie_it_refuses(artefacts):
    proc = _start(artefacts)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert out == ""
    assert "Terraform provider plugin" in err


def test_handshake_schema_and_refusals(artefacts, stubs):
    import grpc

    tfplugin5, tfplugin5_grpc, health, health_grpc, goplugin = stubs
    proc = _start(artefacts, **{provider.MAGIC_COOKIE_KEY: provider.MAGIC_COOKIE_VALUE})
    try:
        line = proc.stdout.readline().strip()
        port = HANDSHAKE.match(line)
        assert port, f"handshake line {line!r}"
        assert port.group(2) == "", "no certificate when Terraform asks for no TLS"
        with grpc.insecure_channel(
            f"127.0.0.1:{port.group(1)}", options=[("grpc.max_receive_message_length", 256 << 20)]
        ) as channel:
            check = health_grpc.HealthStub(channel).Check(health.HealthCheckRequest(service="plugin"), timeout=10)
            assert check.status == health.HealthCheckResponse.SERVING

            client = tfplugin5_grpc.ProviderStub(channel)
            schema = client.GetSchema(tfplugin5.GetProviderSchema.Request(), timeout=30)
            block = schema.resource_schemas["google_pubsub_subscription"].block
            attrs = {a.name: a for a in block.attributes}
            assert attrs["name"].required
            assert attrs["message_retention_duration"].optional

            config = tfplugin5.DynamicValue(json=b'{"name": "x"}')
            validated = client.ValidateResourceTypeConfig(
                tfplugin5.ValidateResourceTypeConfig.Request(type_name="google_pubsub_topic", config=config), timeout=10
            )
            assert list(validated.diagnostics) == []
            prepared = client.PrepareProviderConfig(tfplugin5.PrepareProviderConfig.Request(config=config), timeout=10)
            assert prepared.prepared_config == config

            # Anything that would reach Google is refused, naming the operation.
            planned = client.PlanResourceChange(
                tfplugin5.PlanResourceChange.Request(type_name="google_pubsub_topic", config=config), timeout=10
            )
            assert [d.severity for d in planned.diagnostics] == [tfplugin5.Diagnostic.ERROR]
            assert planned.diagnostics[0].summary == (
                "ledgerline offline stand-in: cannot plan google_pubsub_topic; this provider only serves the schema"
            )
            read = client.ReadDataSource(tfplugin5.ReadDataSource.Request(type_name="google_project"), timeout=10)
            assert "cannot read data source google_project" in read.diagnostics[0].summary

            # go-plugin's controller: Shutdown ends the process cleanly.
            channel.unary_unary(
                "/plugin.GRPCController/Shutdown",
                request_serializer=goplugin.Empty.SerializeToString,
                response_deserializer=goplugin.Empty.FromString,
            )(goplugin.Empty(), timeout=10)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_automatic_mtls(artefacts, stubs):
    """Terraform asks for TLS (PLUGIN_CLIENT_CERT): the sixth handshake field is the server's own
    certificate (unpadded base64 DER), valid for "localhost", and the plugin serves TLS with it."""
    import base64

    import grpc
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    _, _, health, health_grpc, _ = stubs
    proc = _start(artefacts, **{provider.MAGIC_COOKIE_KEY: provider.MAGIC_COOKIE_VALUE, "PLUGIN_CLIENT_CERT": "x"})
    try:
        found = HANDSHAKE.match(proc.stdout.readline().strip())
        assert found and len(found.group(2)) > 50, "no server certificate in the handshake"
        der = base64.b64decode(found.group(2) + "=" * (-len(found.group(2)) % 4))
        cert = x509.load_der_x509_certificate(der)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.public_bytes(serialization.Encoding.PEM))
        with grpc.secure_channel(
            f"127.0.0.1:{found.group(1)}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
        ) as channel:
            check = health_grpc.HealthStub(channel).Check(health.HealthCheckRequest(service="plugin"), timeout=10)
            assert check.status == health.HealthCheckResponse.SERVING
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_runtime_pins_are_the_project_venvs():
    """The stubs are generated in .venv-tfplugin and loaded in .venv too: same grpcio and protobuf."""

    def pins(path: Path) -> dict[str, str]:
        found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), re.M)
        return {name.lower(): version for name, version in found}

    offline, project = pins(OFFLINE / "requirements.txt"), pins(REPO / "constraints.txt")
    for name in ("grpcio", "protobuf"):
        assert offline[name] == project[name], name
    assert offline["grpcio-tools"] == "1.85.1"
