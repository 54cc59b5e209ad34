"""``server.web_config``: the exporter-toolkit file is read with the config; every problem names the file and its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Secret, TlsServerConfig, WebConfig, load_config
from monitor.errors import ConfigError

HASH = "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"  # the shape htpasswd -nBC 10 writes


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """The driftd config's folder and, beside it, the web config's folder (as the config names it: conf/../web)
    with empty PEM files in it."""
    conf, web = tmp_path / "conf", tmp_path / "conf" / ".." / "web"
    conf.mkdir()
    (web / "tls").mkdir(parents=True)
    for name in ("server.crt", "server.key", "ca.crt"):
        (web / "tls" / name).write_text("")
    return conf, web


def load(folders: tuple[Path, Path], web: object, text: str | None = None) -> WebConfig | None:
    """Write the web config (``web`` as YAML, or ``text`` as is) and a driftd config naming it; load them."""
    conf, folder = folders
    (folder / "web.yml").write_text(yaml.safe_dump(web, sort_keys=False) if text is None else text)
    config = conf / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"web_config": "../web/web.yml"},
        "models": [{"name": "churn", "task": "binary_classification", "reference": {"events": 100},
                    "window": {"size": "1h"}}]}))
    return load_config(config).server.web_config


def problems(folders: tuple[Path, Path], web: object, text: str | None = None) -> list[str]:
    """The problems of a bad web config, each with the ``server.web_config: <file>: `` prefix checked and removed."""
    with pytest.raises(ConfigError) as info:
        load(folders, web, text)
    prefix = f"{folders[1] / 'web.yml'}: "
    out = []
    for key, message in info.value.problems:
        assert key == "server.web_config" and message.startswith(prefix), (key, message)
        out.append(message[len(prefix):])
    return out


def tls(**extra: Any) -> dict[str, Any]:
    return {"tls_server_config": {"cert_file": "tls/server.crt", "key_file": "tls/server.key", **extra}}


def test_without_the_key_there_is_no_web_config(tmp_path: Path) -> None:
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump({"models": [{"name": "churn", "task": "binary_classification",
                                                "reference": {"events": 100}, "window": {"size": "1h"}}]}))
    assert load_config(path).server.web_config is None


def test_paths_resolve_against_the_web_config_folder_and_defaults_follow_exporter_toolkit(folders: Any) -> None:
    web = load(folders, {**tls(), "basic_auth_users": {"prometheus": HASH}})
    folder = folders[1]
    assert web == WebConfig(folder / "web.yml", TlsServerConfig(folder / "tls/server.crt", folder / "tls/server.key",
                                                                "NoClientCert", None, "TLS12", "TLS13"),
                            {"prometheus": Secret(HASH)}, {})
    assert HASH not in repr(web)


def test_every_supported_key(folders: Any) -> None:
    web = load(folders, {
        **tls(client_auth_type="RequireAndVerifyClientCert", client_ca_file="tls/ca.crt", min_version="TLS13",
              max_version="TLS13"),
        "http_server_config": {"http2": False, "headers": {"X-Frame-Options": "deny", "Content-Security-Policy": "",
                                                           "Strict-Transport-Security": "max-age=31536000"}},
        "basic_auth_users": {"alice": HASH, "bob": HASH.replace("$2y$10$", "$2b$12$")},
    })
    assert web is not None and web.tls is not None
    assert (web.tls.client_auth_type, web.tls.client_ca_file) == ("RequireAndVerifyClientCert",
                                                                  folders[1] / "tls/ca.crt")
    assert (web.tls.min_version, web.tls.max_version) == ("TLS13", "TLS13")
    assert dict(web.headers) == {"X-Frame-Options": "deny", "Strict-Transport-Security": "max-age=31536000"}
    assert list(web.users) == ["alice", "bob"]


def test_basic_auth_alone_is_plain_http(folders: Any) -> None:
    web = load(folders, {"basic_auth_users": {"prometheus": HASH}})
    assert web is not None and web.tls is None and list(web.users) == ["prometheus"]


def test_unknown_and_unsupported_keys(folders: Any) -> None:
    assert problems(folders, {**tls(cipher_suites=["TLS_AES_128_GCM_SHA256"], client_allowed_sans=["x"]),
                              "tls_servr_config": {}, "rate_limit": {"interval": "1s", "burst": 2}}) == [
        "rate_limit: not supported by driftd (put a rate limit in front of driftd, or let Prometheus scrape it alone)",
        "tls_servr_config: unknown key 'tls_servr_config' (did you mean 'tls_server_config'?); valid keys: "
        "tls_server_config, http_server_config, basic_auth_users",
        "tls_server_config.cipher_suites: not supported by driftd (driftd uses OpenSSL's default cipher suites)",
        "tls_server_config.client_allowed_sans: not supported by driftd (use a client_ca_file that signs only the "
        "allowed clients)",
    ]
    assert problems(folders, {"tls_server_config": {"cert": "PEM", "key": "PEM"}}) == [
        "tls_server_config.cert: not supported by driftd (inline certificates; give the file as cert_file)",
        "tls_server_config.key: not supported by driftd (inline keys; give the file as key_file)",
        "tls_server_config.cert_file: required key is missing",
        "tls_server_config.key_file: required key is missing",
    ]


def test_unsupported_values(folders: Any) -> None:
    assert problems(folders, tls(client_auth_type="RequireAnyClientCert", min_version="TLS10",
                                 max_version="TLS14")) == [
        "tls_server_config.client_auth_type: RequireAnyClientCert is not supported by driftd: Python's ssl module "
        "verifies every client certificate it asks for; use RequireAndVerifyClientCert with client_ca_file",
        "tls_server_config.min_version: TLS10 is not supported by driftd, which serves TLS12 and TLS13 only",
        "tls_server_config.max_version: unknown TLS version 'TLS14' (did you mean 'TLS13'?); expected one of "
        "TLS12, TLS13",
    ]
    assert problems(folders, tls(client_auth_type="VerifyClientCert")) == [
        "tls_server_config.client_auth_type: unknown client_auth_type 'VerifyClientCert' (did you mean "
        "'VerifyClientCertIfGiven'?); expected one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"]
    assert problems(folders, tls(min_version="TLS13", max_version="TLS12")) == [
        "tls_server_config.max_version: TLS12 is below min_version TLS13"]


def test_client_ca_file_goes_with_a_verifying_client_auth_type(folders: Any) -> None:
    assert problems(folders, tls(client_auth_type="RequireAndVerifyClientCert")) == [
        "tls_server_config.client_ca_file: required with client_auth_type RequireAndVerifyClientCert: the CA that "
        "signs the client certificates"]
    assert problems(folders, tls(client_ca_file="tls/ca.crt")) == [
        "tls_server_config.client_ca_file: given without a client_auth_type that verifies client certificates "
        "(RequireAndVerifyClientCert or VerifyClientCertIfGiven)"]


def test_certificate_files_must_exist(folders: Any) -> None:
    folder = folders[1]
    assert problems(folders, {"tls_server_config": {"cert_file": "tls/missing.crt", "key_file": "tls"}}) == [
        f"tls_server_config.cert_file: no such file: {folder / 'tls/missing.crt'}",
        f"tls_server_config.key_file: not a file: {folder / 'tls'}",
    ]


def test_users_need_bcrypt_hashes_and_names_without_colons(folders: Any) -> None:
    expected = "expected a bcrypt hash like $2y$10$ followed by 53 characters (htpasswd -nBC 10 \"\" | tr -d ':\\n' " \
               "writes one), got "
    assert problems(folders, {"basic_auth_users": {"plain": "hunter2", "short": HASH[:-1], "md5": "$apr1$x$y",
                                                   "cost": HASH.replace("$10$", "$03$"), "number": 7,
                                                   "a:b": HASH}}) == [
        f"basic_auth_users.plain: {expected}a string of 7 characters",
        f"basic_auth_users.short: {expected}a string of 59 characters",
        f"basic_auth_users.md5: {expected}a string of 9 characters",
        f"basic_auth_users.cost: {expected}a string of 60 characters",
        f"basic_auth_users.number: {expected}7",
        "basic_auth_users.a:b: a user name cannot contain ':' (HTTP basic auth splits user and password there)",
    ]


def test_only_exporter_toolkits_headers_and_values(folders: Any) -> None:
    assert problems(folders, {"http_server_config": {"http2": "yes", "headers": {
        "X-Frame-Options": "allow", "X-Powered-By": "driftd", "X-XSS-Protection": "1\r\nSet-Cookie: x"}}}) == [
        "http_server_config.http2: expected true or false, got 'yes'",
        "http_server_config.headers.X-Frame-Options: expected one of deny, sameorigin, got 'allow'",
        "http_server_config.headers.X-Powered-By: the header 'X-Powered-By' cannot be configured; headers that "
        "can: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
        "Content-Security-Policy",
        "http_server_config.headers.X-XSS-Protection: header values cannot contain line breaks",
    ]


def test_unreadable_empty_and_malformed_files(folders: Any) -> None:
    assert problems(folders, None, "") == ["the file is empty; expected tls_server_config and/or basic_auth_users"]
    assert problems(folders, None, "- a list\n") == ["expected a mapping, got a list"]
    assert problems(folders, None, "basic_auth_users:\n  alice: x\n alice: y\n")[0].startswith(
        "line 3, column 2: invalid YAML:")
    duplicate = problems(folders, None, f"basic_auth_users:\n  alice: '{HASH}'\n  alice: '{HASH}'\n")
    assert duplicate == ["line 3, column 3: duplicate key 'alice'; YAML would silently keep only the last one"]
    (folders[1] / "web.yml").unlink()
    conf = folders[0] / "driftd.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert info.value.problems == [("server.web_config", f"{folders[1] / 'web.yml'}: cannot read the web "
                                                         "configuration file: No such file or directory")]
