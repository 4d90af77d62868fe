"""What `terraform validate` would say about a module, offline.

The providers cannot be downloaded here, so their schemas come from the CDK Terrain
bindings on PyPI (the `cdktn-provider-*` test dependencies): each ships a jsii manifest
generated from its provider's schema. The manifest is read straight from the installed
wheel (gzipped tar under `_jsii/`), never imported: every resource, data source and
provider configuration is a class whose config struct lists the arguments (optional or
required) and nested blocks (struct types, documented as "<name> block"); the attributes
that are only computed are getters of the class that the config struct does not have.

`check_module(directory, schemas)` returns the findings, one line each, for a root module
and the local modules it calls:
- declarations: only block kinds Terraform knows, each name declared once;
- schema: each resource, data and provider block names a type of the provider, every
  argument and nested block (recursively, `dynamic` blocks included) exists at its position
  and is written as what it is (argument or block, one block where only one is allowed),
  every required argument and block is present, nothing computed-only is set, and a
  literal value fits the argument's type;
- references: every var., local., module., data.<type>.<name> and <type>.<name> reference
  points at a declared block (and the attribute read from a resource or data source
  exists, a module's output too), blocks with count/for_each are read by instance and
  others are not, each./count. appear only where declared, module calls pass only the child
  module's variables and all its required ones, variable/output blocks hold only the
  arguments Terraform knows.

Expressions are not evaluated: types of computed values, function names and provider-side
validation (allowed values, conflicting arguments) stay for `terraform plan` to find.
"""

from __future__ import annotations

import difflib
import json
import re
import tarfile
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import distribution, distributions
from pathlib import Path

import hcl2

# Arguments and blocks Terraform itself gives every block of a kind (meta-arguments).
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "connection"}
RESOURCE_META_BLOCKS = {"lifecycle", "connection", "provisioner"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
PROVIDER_META = {"alias"}
LIFECYCLE = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
    "precondition",
    "postcondition",
    "action_trigger",
}
MODULE_META = {"source", "version", "count", "for_each", "depends_on", "providers"}
VARIABLE_ARGS = {
    "type",
    "default",
    "description",
    "validation",
    "sensitive",
    "nullable",
    "ephemeral",
}
OUTPUT_ARGS = {"value", "description", "sensitive", "depends_on", "precondition", "ephemeral"}
# Names a reference may start with that are not declared blocks.
BUILTIN_SCOPES = {"self", "path", "terraform"}
# The kinds of top-level blocks Terraform knows.
TOP_LEVEL = {
    "terraform",
    "provider",
    "variable",
    "locals",
    "output",
    "module",
    "resource",
    "data",
    "ephemeral",
    "moved",
    "import",
    "removed",
    "check",
    "action",
}


# --- provider schemas, from the jsii manifest -------------------------------------------


@dataclass
class Argument:
    required: bool
    # "string", "number", "boolean", "list", "map", "object"; None when anything goes
    kind: str | None = None


@dataclass
class Block:
    """The schema of a resource, data source, provider or nested block."""

    arguments: dict[str, Argument] = field(default_factory=dict)
    # name -> (schema or None when the binding does not describe it, required, single)
    blocks: dict[str, tuple[Block | None, bool, bool]] = field(default_factory=dict)
    computed: set[str] = field(default_factory=set)

    def attributes(self) -> set[str]:
        """Everything a reference may read: arguments, blocks, computed attributes."""
        return set(self.arguments) | set(self.blocks) | self.computed


ANCHOR = re.compile(r"#([A-Za-z0-9_]+) [A-Za-z0-9_]+#\1\}")
CLASS = re.compile(
    r'"base": "cdkt[nf]\.Terraform(Resource|DataSource|Provider)",\s*"docs": \{[^{}]*?'
    r'"summary": "Represents a \{@link https://registry\.terraform\.io/providers/'
    r'([^/]+)/([^/]+)/([^/]+)/docs\S* (\S+)\}\."\s*\},\s*"fqn": "([^"]+)"'
)
TYPE_KEY = re.compile(r'\n    "([^"\n]+)": \{\n')
KINDS = {"Resource": "resource", "DataSource": "data", "Provider": "provider"}


def value_kind(type_: dict) -> str | None:
    """What an argument takes, from its jsii type (IResolvable aside: any expression)."""
    members = [
        t
        for t in type_.get("union", {}).get("types", [type_])
        if t.get("fqn") != "cdktn.IResolvable"
    ]
    if len(members) != 1:
        return None
    member = members[0]
    if "collection" in member:
        return "list" if member["collection"]["kind"] == "array" else "map"
    if member.get("primitive") in {"string", "number", "boolean"}:
        return member["primitive"]
    if member.get("fqn", "").count(".") >= 2 and not member["fqn"].startswith(("cdktn.", "cdktf.")):
        return "object"
    return None


def literal_error(value, kind: str | None) -> str | None:
    """Why a literal value cannot be converted to what an argument takes (expressions and
    null are not judged: only Terraform knows their types)."""
    if kind is None or value is None:
        return None
    if isinstance(value, list):
        found = "a list"
    elif isinstance(value, dict):
        found = "an object"
    elif isinstance(value, bool):
        found = "a bool"
    elif isinstance(value, int | float):
        found = "a number"
    elif isinstance(value, str) and value.startswith('"') and "${" not in value:
        found = "a string"
        text = value[1:-1]
        if kind == "boolean" and text not in {"true", "false"}:
            return f"takes a bool, not the string {value}"
        if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", text):
            return f"takes a number, not the string {value}"
    else:
        return None
    allowed = {
        "string": {"a string", "a number", "a bool"},
        "number": {"a number", "a string"},
        "boolean": {"a bool", "a string"},
        "list": {"a list"},
        "map": {"an object"},
        "object": {"an object"},
    }[kind]
    article = "an" if kind == "object" else "a"
    return None if found in allowed else f"takes {article} {kind}, not {found}"


def snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


class ProviderSchema:
    """One provider's schema, read lazily from the jsii manifest of a binding package."""

    def __init__(self, package: str, path: list[str] | None = None):
        """`package` as installed (or found in `path`, to compare another release)."""
        dist = next(distributions(name=package, path=path)) if path else distribution(package)
        manifests = [f for f in dist.files or () if str(f).endswith(".jsii.tgz")]
        assert manifests, f"{package} {dist.version} ships no jsii manifest"
        # A stream: the manifest comes first, the rest of the archive is never unpacked.
        with tarfile.open(dist.locate_file(manifests[0]), mode="r|gz") as archive:
            member = next(m for m in archive if m.name == "package/.jsii")
            self.text = archive.extractfile(member).read().decode()
        # Where each type of the manifest starts (its key in "types", 4 spaces in).
        self.offsets = {m.group(1): m.end() - 2 for m in TYPE_KEY.finditer(self.text)}
        self.package = f"{package}=={dist.version}"
        self.classes: dict[tuple[str, str], str] = {}
        self.name = self.source = self.version = ""
        for kind, namespace, name, version, label, fqn in CLASS.findall(self.text):
            self.classes[(KINDS[kind], label)] = fqn
            if kind == "Provider":
                self.name, self.source, self.version = name, f"{namespace}/{name}", version
        assert self.name, f"{package}: no provider class in the manifest"

    @cache  # noqa: B019 (one instance per provider for the whole session)
    def _type(self, fqn: str) -> dict | None:
        if fqn not in self.offsets:
            return None
        return json.JSONDecoder().raw_decode(self.text, self.offsets[fqn])[0]

    def types(self, kind: str) -> set[str]:
        return {label for k, label in self.classes if k == kind}

    @cache  # noqa: B019
    def block(self, kind: str, type_: str) -> Block | None:
        """The schema of a `resource`/`data` type or of the `provider` block; None if the
        provider has no such type."""
        fqn = self.classes.get((kind, type_))
        if fqn is None:
            return None
        cls = self._type(fqn)
        assert cls is not None, fqn
        config = next(p for p in cls["initializer"]["parameters"] if p["name"] == "config")
        return self._struct(config["type"]["fqn"], getters_of=fqn)

    def _struct(self, fqn: str, getters_of: str) -> Block:
        struct = self._type(fqn) or {}
        schema = Block()
        for prop in struct.get("properties", []):
            docs = prop.get("docs", {})
            anchor = ANCHOR.search(docs.get("remarks", ""))
            name = anchor.group(1) if anchor else snake(prop["name"])
            required = not prop.get("optional", False)
            if docs.get("summary") == f"{name} block.":
                element = self._element(prop["type"])
                nested = self._struct(element, element + "OutputReference") if element else None
                single = "fqn" in prop["type"]
                schema.blocks[name] = (nested, required, single)
            else:
                schema.arguments[name] = Argument(required, value_kind(prop["type"]))
        settable = {camel(n) for n in schema.arguments} | {camel(n) for n in schema.blocks}
        for prop in (self._type(getters_of) or {}).get("properties", []):
            getter = prop["name"]
            if prop.get("static") or not prop.get("immutable") or getter in settable:
                continue
            if getter.endswith("Input") and getter[: -len("Input")] in settable:
                continue
            if getter in {"fqn", "friendlyUniqueId", "terraformResourceType"}:
                continue
            schema.computed.add(snake(getter))
        return schema

    def _element(self, type_: dict) -> str | None:
        """The struct a block property holds: the type itself, or the element of a list."""
        candidates = type_.get("union", {}).get("types", [type_])
        for candidate in candidates:
            if "collection" in candidate:
                candidate = candidate["collection"]["elementtype"]
            fqn = candidate.get("fqn", "")
            if fqn and not fqn.startswith(("cdktn.", "cdktf.")):
                return fqn
        return None


# --- reading a module -------------------------------------------------------------------


def is_block(value) -> bool:
    """Whether a parsed value is one or more blocks (python-hcl2 marks them; a labelled
    block is a dict from its label to the marked body)."""

    def marked(entry) -> bool:
        return isinstance(entry, dict) and bool(entry.get("__is_block__"))

    return (
        isinstance(value, list)
        and bool(value)
        and all(
            marked(v) or (isinstance(v, dict) and v and all(map(marked, v.values()))) for v in value
        )
    )


def items(body: dict):
    """The arguments and blocks of a parsed body, without python-hcl2's bookkeeping."""
    return ((k, v) for k, v in body.items() if not k.startswith("__"))


def label(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


@cache
def parse(text: str) -> dict:
    """A .tf file's content, parsed once per session: many rendered modules share files."""
    return hcl2.loads(text)


@dataclass
class Module:
    directory: Path
    # kind -> list of (file name, labels, body)
    blocks: dict[str, list[tuple[str, tuple[str, ...], dict]]] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path) -> Module:
        module = cls(directory)
        labels = {"resource": 2, "data": 2, "provider": 1, "module": 1, "variable": 1, "output": 1}
        for path in sorted(directory.glob("*.tf")):
            for kind, entries in items(parse(path.read_text())):
                for entry in entries:
                    for found in cls._unfold(entry, labels.get(kind, 0)):
                        module.blocks.setdefault(kind, []).append((path.name, *found))
        return module

    @staticmethod
    def _unfold(entry: dict, depth: int, prefix: tuple[str, ...] = ()):
        if depth == 0:
            yield prefix, entry
            return
        for key, value in items(entry):
            yield from Module._unfold(value, depth - 1, (*prefix, label(key)))

    def of(self, kind: str):
        return self.blocks.get(kind, [])

    def names(self, kind: str) -> set[tuple[str, ...]]:
        return {labels for _, labels, _ in self.of(kind)}

    def locals(self) -> set[str]:
        return {name for _, _, body in self.of("locals") for name, _ in items(body)}

    def required_providers(self) -> dict[str, str]:
        found = {}
        for _, _, body in self.of("terraform"):
            for block in body.get("required_providers", []):
                for name, spec in items(block):
                    source = spec.get("source", "") if isinstance(spec, dict) else ""
                    found[name] = label(source).lower().removeprefix("registry.terraform.io/")
        return found


# --- the schema check -------------------------------------------------------------------


def close(name: str, known) -> str:
    match = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def check_body(body: dict, schema: Block, where: str, meta: set[str] = frozenset()) -> list[str]:
    errors = []
    present = set()
    for name, value in items(body):
        if name in meta:
            if name == "lifecycle" and is_block(value):
                for block in value:
                    errors += [
                        f"{where}: lifecycle has no argument {key}{close(key, LIFECYCLE)}"
                        for key, _ in items(block)
                        if key not in LIFECYCLE
                    ]
            continue
        if name == "dynamic" and is_block(value):
            for entry in value:
                for block_label, dynamic in items(entry):
                    block_name = label(block_label)
                    present.add(block_name)
                    if block_name not in schema.blocks:
                        errors.append(
                            f"{where}: dynamic {block_name}: no such block"
                            f"{close(block_name, schema.blocks)}"
                        )
                        continue
                    nested = schema.blocks[block_name][0]
                    for key, _ in items(dynamic):
                        if key not in {"for_each", "iterator", "labels", "content"}:
                            errors.append(f"{where}: dynamic {block_name} has no argument {key}")
                    for content in dynamic.get("content", []):
                        if nested is not None:
                            errors += check_body(content, nested, f"{where}.{block_name}")
            continue
        present.add(name)
        if name in schema.blocks:
            nested, _, single = schema.blocks[name]
            if not is_block(value):
                errors.append(f"{where}: {name} is a block, not an argument: write {name} {{ }}")
                continue
            if single and len(value) > 1:
                errors.append(f"{where}: at most one {name} block is allowed, found {len(value)}")
            if nested is not None:
                for block in value:
                    errors += check_body(block, nested, f"{where}.{name}")
        elif name in schema.arguments:
            if is_block(value):
                errors.append(f"{where}: {name} is an argument, not a block: write {name} = ...")
            elif problem := literal_error(value, schema.arguments[name].kind):
                errors.append(f"{where}: {name} {problem}")
        elif name in schema.computed:
            errors.append(f"{where}: {name} is computed by the provider and cannot be set")
        else:
            known = set(schema.arguments) | set(schema.blocks)
            errors.append(f"{where}: no argument or block named {name}{close(name, known)}")
    for name, argument in schema.arguments.items():
        if argument.required and name not in present:
            errors.append(f"{where}: the required argument {name} is missing")
    for name, (_, required, _) in schema.blocks.items():
        if required and name not in present:
            errors.append(f"{where}: the required block {name} is missing")
    return errors


def check_schema(module: Module, schemas: dict[str, ProviderSchema]) -> list[str]:
    errors = []
    required = module.required_providers()
    for name, source in required.items():
        schema = schemas.get(name)
        if schema is None or schema.source != source:
            errors.append(f"terraform.required_providers: no schema for {name} ({source})")
    declared = set(required) | {"terraform"}

    def provider_of(type_: str, where: str) -> ProviderSchema | None:
        name = type_.split("_")[0]
        if name not in declared:
            errors.append(f"{where}: provider {name} is not in required_providers")
        return schemas.get(name)

    for file, (name,), body in module.of("provider"):
        where = f"{file}: provider.{name}"
        schema = schemas.get(name)
        if name not in declared or schema is None:
            errors.append(f"{where}: provider {name} is not in required_providers")
            continue
        errors += check_body(body, schema.block("provider", name), where, PROVIDER_META)
    for kind, meta in (("resource", RESOURCE_META | RESOURCE_META_BLOCKS), ("data", DATA_META)):
        for file, (type_, name), body in module.of(kind):
            where = f"{file}: {'data.' if kind == 'data' else ''}{type_}.{name}"
            provider = provider_of(type_, where)
            if provider is None:
                continue
            schema = provider.block(kind, type_)
            if schema is None:
                noun = "resource type" if kind == "resource" else "data source"
                errors.append(
                    f"{where}: hashicorp/{provider.name} {provider.version} has no {noun} "
                    f"{type_}{close(type_, provider.types(kind))}"
                )
                continue
            errors += check_body(body, schema, where, meta)
    return errors


# --- the reference check ----------------------------------------------------------------

TOKEN = re.compile(
    r'(?P<string>")|(?P<heredoc><<-?(?P<tag>[A-Za-z_]\w*)\n)|(?P<ident>[A-Za-z_][\w-]*)'
    r"|(?P<number>\d+(?:\.\d+)?)|(?P<punct>\.\.\.|::|[.\[\](){}?:,=<>!&|+\-*/%])|\s+"
)


def code_tokens(text: str, start: int = 0, closing: str | None = None):
    """Tokens of the expression in `text` (identifiers and punctuation), with the code of
    template interpolations inside its strings; string literals themselves are dropped.
    Returns (tokens, end position)."""
    tokens: list[str] = []
    depth = 0
    i = start
    while i < len(text):
        if closing and text[i] == "}" and depth == 0:
            return tokens, i + 1
        match = TOKEN.match(text, i)
        if match is None:
            i += 1
            continue
        i = match.end()
        if match.group("string"):
            inner, i = template_tokens(text, i, '"')
            tokens += ["(", *inner, ")"] if inner else ['""']
        elif match.group("heredoc"):
            inner, i = template_tokens(text, i, "\n" + match.group("tag"))
            tokens += ["(", *inner, ")"] if inner else ['""']
        elif match.group("ident") or match.group("punct"):
            token = match.group("ident") or match.group("punct")
            depth += token == "{"
            depth -= token == "}"
            tokens.append(token)
        elif match.group("number"):
            tokens.append("0")
    return tokens, i


def template_tokens(text: str, i: int, end: str):
    """The code of the interpolations (`${...}`, `%{...}`) of a template up to `end`."""
    tokens: list[str] = []
    while i < len(text):
        if text.startswith("\\", i):
            i += 2
        elif text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            inner, i = code_tokens(text, i + 2, closing="}")
            tokens += ["(", *inner, ")"]
        elif text.startswith(end, i):
            return tokens, i + len(end)
        else:
            i += 1
    return tokens, i


def expression_tokens(value) -> list[str]:
    """The tokens of one value as python-hcl2 gives it: "${expr}", a quoted template, a
    bare expression, or a list/object of those."""
    if isinstance(value, dict):
        return [t for key, v in items(value) for t in expression_tokens(v)]
    if isinstance(value, list):
        return [t for v in value for t in expression_tokens(v)]
    if not isinstance(value, str):
        return []
    if value.startswith("${") and value.endswith("}"):
        return code_tokens(value[2:-1])[0]
    if value.startswith('"<<') and "\n" in value:
        # A heredoc, which python-hcl2 keeps whole (in quotes): a template to its end.
        return template_tokens(value, value.index("\n") + 1, end="\0")[0]
    return code_tokens(value)[0]


@dataclass
class Reference:
    root: str
    parts: list[str]


def references(tokens: list[str]) -> list[Reference]:
    """Every traversal (a.b.c, a.b[0].c, a.b[*].c, a.b.*.c) that does not start after a dot,
    that is not a function call, and whose root is not a for expression's own variable.
    An index shows in `parts` as "[]", a splat as "[*]"."""
    iterators = {tokens[i + 1] for i, token in enumerate(tokens[:-1]) if token == "for"} | {
        tokens[i + 3]
        for i, token in enumerate(tokens[:-3])
        if token == "for" and tokens[i + 2] == ","
    }
    name = re.compile(r"[A-Za-z_]")
    found = []
    for i, token in enumerate(tokens):
        if not name.match(token) or (i and tokens[i - 1] in {".", "::"}) or token in iterators:
            continue
        if i + 1 >= len(tokens) or tokens[i + 1] not in {".", "["}:
            continue
        parts, j = [], i + 1
        while j < len(tokens):
            if tokens[j] == "." and j + 1 < len(tokens) and name.match(tokens[j + 1]):
                parts.append(tokens[j + 1])
                j += 2
            elif tokens[j] == "." and j + 1 < len(tokens) and tokens[j + 1] == "*":
                parts.append("[*]")
                j += 2
            elif tokens[j] == "[":
                splat = tokens[j + 1 : j + 3] == ["*", "]"]
                level = 0
                while j < len(tokens):
                    level += tokens[j] in {"[", "(", "{"}
                    level -= tokens[j] in {"]", ")", "}"}
                    j += 1
                    if level == 0:
                        break
                parts.append("[*]" if splat else "[]")
            else:
                break
        found.append(Reference(token, parts))
    return found


def child_variables(directory: Path) -> tuple[set[str], set[str]]:
    module = Module.read(directory)
    declared = {labels[0] for labels in module.names("variable")}
    required = {name for _, (name,), body in module.of("variable") if "default" not in body}
    return declared, required


def check_references(module: Module, schemas: dict[str, ProviderSchema]) -> list[str]:
    errors = []
    variables = {labels[0] for labels in module.names("variable")}
    local_names = module.locals()
    resources = set(module.names("resource"))
    data = set(module.names("data"))
    outputs_of: dict[str, set[str] | None] = {}
    for file, (name,), body in module.of("module"):
        where = f"{file}: module.{name}"
        source = label(str(body.get("source", "")))
        if not source.startswith(("./", "../")):
            outputs_of[name] = None
            continue
        child = (module.directory / source).resolve()
        if not child.is_dir():
            errors.append(f"{where}: source {source} is not a directory of the module")
            outputs_of[name] = None
            continue
        declared, required = child_variables(child)
        passed = {key for key, _ in items(body)} - MODULE_META
        errors += [
            f"{where}: {source} has no variable {key}{close(key, declared)}"
            for key in sorted(passed - declared)
        ]
        errors += [
            f"{where}: the required variable {key} of {source} is not passed"
            for key in sorted(required - passed)
        ]
        outputs_of[name] = {labels[0] for labels in Module.read(child).names("output")}

    for file, (name,), body in module.of("variable"):
        errors += [
            f"{file}: variable.{name}: no argument {key}{close(key, VARIABLE_ARGS)}"
            for key, _ in items(body)
            if key not in VARIABLE_ARGS
        ]
    for file, (name,), body in module.of("output"):
        errors += [
            f"{file}: output.{name}: no argument {key}{close(key, OUTPUT_ARGS)}"
            for key, _ in items(body)
            if key not in OUTPUT_ARGS
        ]
        if "value" not in body:
            errors.append(f"{file}: output.{name}: the required argument value is missing")

    def attribute_error(kind: str, type_: str, name: str, rest: list[str]) -> str | None:
        """The first attribute read after a resource's address (and its index) must exist."""
        provider = schemas.get(type_.split("_")[0])
        schema = provider.block(kind, type_) if provider else None
        attributes = [part for part in rest[:2] if part not in {"[]", "[*]"}]
        if schema is None or not attributes or attributes[0] in schema.attributes() | {"id"}:
            return None
        known = schema.attributes()
        address = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
        return f"{address} has no attribute {attributes[0]}{close(attributes[0], known)}"

    repeated = {
        (kind, *labels)
        for kind in ("resource", "data", "module")
        for _, labels, body in module.of(kind)
        if "count" in body or "for_each" in body
    }

    def instance_key_error(address: tuple[str, ...], rest: list[str]) -> str | None:
        """A block with count or for_each is read by instance ([key], [*] or as a whole);
        one without them has no instance key."""
        name = ".".join(address[1:] if address[0] == "resource" else address)
        if address in repeated and rest and rest[0] not in {"[]", "[*]"}:
            return f"{name} has count or for_each: read one instance, {name}[...].{rest[0]}"
        if address not in repeated and rest and rest[0] == "[]":
            return f"{name} has neither count nor for_each: it takes no instance key"
        return None

    def check(where: str, value, scope: set[str]) -> None:
        for ref in references(expression_tokens(value)):
            root, parts = ref.root, ref.parts
            first = parts[0] if parts and parts[0] != "[]" else None
            problem = None
            if root in {"each", "count"}:
                if root not in scope:
                    meta = "for_each" if root == "each" else "count"
                    errors.append(f"{where}: {root}.{first} is used in a block without {meta}")
                continue
            if root in BUILTIN_SCOPES or root in scope:
                continue
            if root == "var":
                if first not in variables:
                    problem = f"var.{first} is not declared{close(first or '', variables)}"
            elif root == "local":
                if first not in local_names:
                    problem = f"local.{first} is not defined{close(first or '', local_names)}"
            elif root == "module":
                if first not in outputs_of:
                    problem = f"module.{first} is not declared"
                elif problem := instance_key_error(("module", first), parts[1:]):
                    pass
                else:
                    outputs = outputs_of[first]
                    names = [n for n in parts[1:] if n not in {"[]", "[*]"}]
                    if outputs is not None and names and names[0] not in outputs:
                        problem = (
                            f"module.{first} has no output {names[0]}{close(names[0], outputs)}"
                        )
            elif root == "data":
                second = parts[1] if len(parts) > 1 else None
                if (first, second) not in data:
                    problem = f"data.{first}.{second} is not declared"
                else:
                    problem = instance_key_error(
                        ("data", first, second), parts[2:]
                    ) or attribute_error("data", first, second, parts[2:])
            elif first is not None:
                if (root, first) not in resources:
                    problem = f"{root}.{first} is not declared"
                else:
                    problem = instance_key_error(
                        ("resource", root, first), parts[1:]
                    ) or attribute_error("resource", root, first, parts[1:])
            if problem:
                errors.append(f"{where}: {problem}")

    providers = {labels[0] for labels in module.names("provider")}
    aliases = {
        f"{name}.{label(str(body['alias']))}"
        for _, (name,), body in module.of("provider")
        if "alias" in body
    }
    for kind, entries in module.blocks.items():
        for file, labels, body in entries:
            where = f"{file}: {'.'.join((kind, *labels))}"
            for key, value in items(body):
                if key == "provider" and kind in {"resource", "data"}:
                    target = "".join(expression_tokens(value))
                    if target not in providers | aliases:
                        errors.append(f"{where}: provider {target} is not configured")
                    continue
                if key == "providers" and kind == "module":
                    continue
                if kind == "variable" and key == "type":
                    continue
                scope = {"each"} if "for_each" in body else {"count"} if "count" in body else set()
                walk(
                    check,
                    where,
                    key,
                    value,
                    scope if kind in {"resource", "data", "module"} else set(),
                )
    return errors


def walk(check, where: str, key: str, value, scope: set[str]) -> None:
    """Check the expressions of one argument or block; a dynamic block's content may use
    its iterator (the block's name, or `iterator`)."""
    if key == "dynamic" and is_block(value):
        for entry in value:
            for block_label, dynamic in items(entry):
                iterator = label(str(dynamic.get("iterator", label(block_label))))
                for inner_key, inner in items(dynamic):
                    inner_scope = scope | {iterator} if inner_key == "content" else scope
                    walk(
                        check,
                        f"{where}.dynamic.{label(block_label)}",
                        inner_key,
                        inner,
                        inner_scope,
                    )
        return
    if is_block(value):
        for block in value:
            for inner_key, inner in items(block):
                walk(check, f"{where}.{key}", inner_key, inner, scope)
        return
    check(f"{where}.{key}", value, scope)


def check_declarations(module: Module) -> list[str]:
    """Block kinds Terraform knows, and each name declared once."""
    errors = [
        f"{file}: {kind} is not a kind of block Terraform knows{close(kind, TOP_LEVEL)}"
        for kind, entries in module.blocks.items()
        if kind not in TOP_LEVEL
        for file, _, _ in entries
    ]
    seen: dict[tuple[str, ...], str] = {}

    def once(address: tuple[str, ...], file: str) -> None:
        if address in seen:
            name = ".".join(address)
            errors.append(f"{file}: {name} is declared again (first in {seen[address]})")
        seen.setdefault(address, file)

    for kind in ("resource", "data", "module", "variable", "output"):
        for file, labels, _ in module.of(kind):
            once((kind, *labels), file)
    for file, _, body in module.of("locals"):
        for name, _ in items(body):
            once(("local", name), file)
    for file, (name,), body in module.of("provider"):
        once(("provider", name, label(str(body.get("alias", "")))), file)
    return errors


def check_module(directory: Path, schemas: dict[str, ProviderSchema]) -> list[str]:
    """Both checks over a root module and every local module it calls."""
    errors = []
    seen = set()
    pending = [Path(directory)]
    while pending:
        current = pending.pop().resolve()
        if current in seen:
            continue
        seen.add(current)
        module = Module.read(current)
        where = current.relative_to(Path(directory).resolve())
        prefix = "" if str(where) == "." else f"{where}/"
        found = (
            check_declarations(module)
            + check_schema(module, schemas)
            + check_references(module, schemas)
        )
        errors += [prefix + error for error in found]
        for _, _, body in module.of("module"):
            source = label(str(body.get("source", "")))
            if source.startswith(("./", "../")) and (current / source).is_dir():
                pending.append(current / source)
    return errors
