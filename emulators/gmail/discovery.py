"""Route table and request validation built from Google's Gmail v1 discovery document.

What it is: the emulator's only source of truth for which URLs exist, which HTTP method each
takes, which query parameters each accepts (with types and enums) and which OAuth scopes each
needs. It reads ``gmail.v1.json`` as shipped inside the installed google-api-python-client, so
the emulator accepts exactly what the client library can send.

How it works: every method's ``flatPath`` becomes an anchored regex (``{userId}`` ->
``(?P<userId>[^/]+)``); methods with ``mediaUpload`` also get their ``/upload/...`` paths. A
request is matched on method + path, then its query string is checked against the method's
query parameters plus the document's global parameters: unknown names, bad enum values and
malformed integers/booleans raise ``ApiError`` 400 with the wording Google's front end uses.

How to use it::

    doc = load_discovery_document()
    table = RouteTable(doc)
    route, path_params = table.match('GET', '/gmail/v1/users/me/messages')
    params = table.validate_query(route, parse_qsl(query, keep_blank_values=True))

Caveats: the document is located with ``importlib.util.find_spec`` without importing the client
package; set ``GMAIL_EMULATOR_DISCOVERY`` to a JSON file to override. Google answers unknown
URLs with a 404 page, so ``match`` raises a 404 rather than a 400.
"""

import copy
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .wire import ApiError, error_body

DOCUMENT_RELATIVE = Path("discovery_cache") / "documents" / "gmail.v1.json"


def locate_discovery_document():
    override = os.environ.get("GMAIL_EMULATOR_DISCOVERY")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("google-api-python-client is not installed; cannot find gmail.v1.json")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DOCUMENT_RELATIVE
        if candidate.is_file():
            return candidate
    raise RuntimeError("gmail.v1.json not found inside the installed googleapiclient package")


def load_packaged_document(file_name):
    """Another discovery document shipped beside gmail.v1.json (e.g. admin.directory_v1.json)."""
    spec = importlib.util.find_spec("googleapiclient")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / DOCUMENT_RELATIVE.parent / file_name
        if candidate.is_file():
            with open(candidate, encoding="utf-8") as handle:
                return json.load(handle)
    raise RuntimeError(f"{file_name} not found inside the installed googleapiclient package")


def load_discovery_document(path=None):
    with open(path or locate_discovery_document(), encoding="utf-8") as handle:
        return json.load(handle)


def rebased_document(document, base_url):
    """A copy whose rootUrl points at the emulator, for ``build_from_document`` users."""
    rebased = copy.deepcopy(document)
    rebased["rootUrl"] = base_url.rstrip("/") + "/"
    rebased["baseUrl"] = rebased["rootUrl"] + rebased.get("servicePath", "")
    rebased["batchPath"] = "batch/gmail/v1"
    return rebased


@dataclass
class Route:
    method_id: str
    http_method: str
    template: str
    pattern: re.Pattern
    description: dict
    upload: str = ""  # '', 'simple' or 'resumable'

    @property
    def literal_weight(self):
        # More literal characters means a more specific template; it must win ties.
        return len(re.sub(r"\{[^}]+\}", "", self.template))


def _template_regex(template):
    parts = re.split(r"(\{\+?[A-Za-z0-9_]+\})", template.lstrip("/"))
    regex = []
    for part in parts:
        if part.startswith("{"):
            name = part.strip("{}+")
            regex.append(f"(?P<{name}>[^/]+)")
        else:
            regex.append(re.escape(part))
    return re.compile("^/" + "".join(regex) + "$")


def _walk_methods(resource):
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _walk_methods(child)


class RouteTable:
    def __init__(self, document):
        self.document = document
        self.global_parameters = document.get("parameters", {})
        self.routes = []
        self.by_id = {}
        for method in _walk_methods(document):
            template = method.get("flatPath") or method["path"]
            route = Route(
                method["id"], method["httpMethod"], template, _template_regex(template), method
            )
            self.routes.append(route)
            self.by_id[route.method_id] = route
            protocols = method.get("mediaUpload", {}).get("protocols", {})
            for kind, protocol in protocols.items():
                self.routes.append(
                    Route(
                        method["id"],
                        method["httpMethod"],
                        protocol["path"],
                        _template_regex(protocol["path"]),
                        method,
                        upload=kind,
                    )
                )
        self.routes.sort(key=lambda r: -r.literal_weight)

    def match(self, http_method, path):
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_matched = True
            if route.http_method == http_method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        message = f"The requested URL {path} was not found on this server."
        if path_matched:
            message = f"Method {http_method} is not allowed on {path}."
        raise ApiError(404, error_body(404, message, "notFound"))

    def scopes(self, route):
        return set(route.description.get("scopes", ()))

    def validate_query(self, route, pairs):
        """Check ``pairs`` (name, value) and return typed values with the method's defaults."""
        declared = dict(self.global_parameters)
        method_params = route.description.get("parameters", {})
        declared.update({k: v for k, v in method_params.items() if v.get("location") == "query"})
        values = {}
        for name, value in pairs:
            spec = declared.get(name)
            if spec is None:
                raise ApiError.bad_request(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                    f"parameter. Field '{name}' could not be found in request message."
                )
            typed = _typed_value(name, spec, value)
            if spec.get("repeated"):
                values.setdefault(name, []).append(typed)
            else:
                values.setdefault(name, typed)
        for name, spec in method_params.items():
            if spec.get("location") != "query" or name in values or "default" not in spec:
                continue
            values[name] = _typed_value(name, spec, spec["default"])
        return values


def _snake(name):
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _invalid_value(name, kind, value):
    return ApiError.bad_request(
        f"Invalid value at '{_snake(name)}' ({kind}), \"{value}\"", reason="invalid"
    )


def _typed_value(name, spec, value):
    if "enum" in spec and value not in spec["enum"]:
        raise _invalid_value(name, "TYPE_ENUM", value)
    kind = spec.get("type")
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", value) or (spec.get("format") == "uint32" and "-" in value):
            raise _invalid_value(name, "TYPE_" + spec.get("format", "int32").upper(), value)
        return int(value)
    if kind == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _invalid_value(name, "TYPE_BOOL", value)
        return lowered in ("true", "1")
    if spec.get("format") == "uint64" and not re.fullmatch(r"\d+", value):
        raise _invalid_value(name, "TYPE_UINT64", value)
    return value
