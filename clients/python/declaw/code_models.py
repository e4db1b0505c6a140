"""What sbx.run_code() returns: Execution, Result, Logs, ExecutionError, OutputMessage and the
Context of create_code_context(). The shapes, names and behaviour are those of E2B's code
interpreter SDK (e2b_code_interpreter.models), so code written for it reads them unchanged."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

# Result attributes and the MIME types of a Jupyter display bundle they come from.
MIME_FIELDS = (
    ("text", "text/plain"),
    ("html", "text/html"),
    ("markdown", "text/markdown"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpeg", "image/jpeg"),
    ("pdf", "application/pdf"),
    ("latex", "text/latex"),
    ("json", "application/json"),
    ("javascript", "application/javascript"),
    ("data", "e2b/data"),
)


@dataclass
class OutputMessage:
    """One piece of stdout or stderr, as on_stdout / on_stderr get it. `timestamp`: when the
    kernel sent it, Unix epoch in nanoseconds; `error`: True for stderr."""

    line: str
    timestamp: int
    error: bool = False

    def __str__(self) -> str:
        return self.line


@dataclass
class ExecutionError:
    """The exception the code raised: `name` ("ZeroDivisionError"), `value` (its message) and
    `traceback` (IPython's, with ANSI colours). declaw also reports here a kernel that died
    while running the code (name "KernelDied"; the next run_code starts a new kernel)."""

    name: str
    value: str
    traceback: str

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "value": self.value, "traceback": self.traceback})


class Result:
    """One thing the code displayed: the value of its last expression (`is_main_result`) or a
    display() call. Each representation the kernel gave is an attribute: text, html,
    markdown, svg, png and jpeg (base64), pdf, latex, json (a dict), javascript; `extra` holds
    the MIME types not listed. formats() names those present."""

    def __init__(self, text: Optional[str] = None, html: Optional[str] = None,
                 markdown: Optional[str] = None, svg: Optional[str] = None,
                 png: Optional[str] = None, jpeg: Optional[str] = None,
                 pdf: Optional[str] = None, latex: Optional[str] = None,
                 json: Optional[dict] = None, javascript: Optional[str] = None,
                 data: Optional[dict] = None, chart: Optional[Any] = None,
                 is_main_result: bool = False, extra: Optional[dict] = None, **kwargs: Any):
        self.text = text
        self.html = html
        self.markdown = markdown
        self.svg = svg
        self.png = png
        self.jpeg = jpeg
        self.pdf = pdf
        self.latex = latex
        self.json = json
        self.javascript = javascript
        self.data = data
        self.chart = chart  # E2B's chart extraction is not done here: always None
        self.is_main_result = is_main_result
        self.extra = extra

    @classmethod
    def from_bundle(cls, bundle: Dict[str, Any], is_main_result: bool) -> "Result":
        """The Result of a Jupyter MIME bundle (execute_result or display_data content), as
        E2B's server builds it: text/plain quoted by repr() loses its quotes."""
        rest = dict(bundle)
        values = {name: rest.pop(mime, None) for name, mime in MIME_FIELDS}
        text = values["text"]
        if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            values["text"] = text[1:-1]
        return cls(is_main_result=is_main_result, extra=rest, **values)

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item)

    def formats(self) -> Iterable[str]:
        """The representations present: "text", "html", "png", ... and `extra`'s keys."""
        found = [name for name, _ in MIME_FIELDS if getattr(self, name)]
        if self.chart:
            found.append("chart")
        if self.extra:
            found.extend(self.extra)
        return found

    def __str__(self) -> str:
        return self.__repr__()

    def __repr__(self) -> str:
        if self.text:
            return f"Result({self.text})"
        return "Result(Formats: " + ", ".join(self.formats()) + ")"

    def _repr_html_(self) -> Optional[str]:
        return self.html

    def _repr_markdown_(self) -> Optional[str]:
        return self.markdown

    def _repr_svg_(self) -> Optional[str]:
        return self.svg

    def _repr_png_(self) -> Optional[str]:
        return self.png

    def _repr_jpeg_(self) -> Optional[str]:
        return self.jpeg

    def _repr_pdf_(self) -> Optional[str]:
        return self.pdf

    def _repr_latex_(self) -> Optional[str]:
        return self.latex

    def _repr_json_(self) -> Optional[dict]:
        return self.json

    def _repr_javascript_(self) -> Optional[str]:
        return self.javascript


@dataclass(repr=False)
class Logs:
    """What the code printed: `stdout` and `stderr`, lists of the pieces as the kernel sent
    them (join them for the whole text)."""

    stdout: List[str] = field(default_factory=list)
    stderr: List[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Logs(stdout: {self.stdout}, stderr: {self.stderr})"

    def to_json(self) -> str:
        return json.dumps({"stdout": self.stdout, "stderr": self.stderr})


@dataclass(repr=False)
class Execution:
    """The outcome of one run_code(): `results` (display() calls and the last expression's
    value, in order), `logs`, `error` (None when the code raised nothing) and
    `execution_count` (the kernel's cell number). `text` is the last expression's text."""

    results: List[Result] = field(default_factory=list)
    logs: Logs = field(default_factory=Logs)
    error: Optional[ExecutionError] = None
    execution_count: Optional[int] = None

    def __repr__(self) -> str:
        return f"Execution(Results: {self.results}, Logs: {self.logs}, Error: {self.error})"

    @property
    def text(self) -> Optional[str]:
        for result in self.results:
            if result.is_main_result:
                return result.text
        return None

    def to_json(self) -> str:
        results = []
        for result in self.results:
            entry = {key: result[key] for key in result.formats()
                     if key not in (result.extra or {})}
            entry["text"] = result.text
            results.append(entry)
        return json.dumps({"results": results, "logs": self.logs.to_json(),
                           "error": self.error.to_json() if self.error else None})


@dataclass
class Context:
    """A code context: one kernel of its own, with its own variables. `id`, `language` and
    `cwd` (where it started). From create_code_context() or list_code_contexts()."""

    id: str
    language: str
    cwd: str

    @classmethod
    def from_json(cls, data: Dict[str, str]) -> "Context":
        return cls(id=str(data.get("id")), language=str(data.get("language")),
                   cwd=str(data.get("cwd")))
