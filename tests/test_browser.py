"""The built book, opened in a real headless Chromium, works as a reader sees it.

Every page of ``_toc.yml`` in the book executed at smoke scale (the ``smoke_book`` fixture of
conftest.py), served from a local HTTP server with every request to another host blocked,
so the book must work offline:

* the page answers 200 and its article has text;
* the math is typeset: MathJax's output is in every math element, none shows an error, and no
  raw ``$$``, ``\\(`` or ``\\[`` is left in the text outside code;
* every image loads (``naturalWidth > 0``), and no request fails or leaves the machine;
* the Colab button of a chapter opens its ``.ipynb`` in the repository of ``_config.yml``;
* every link within the site names an existing file and, with a ``#fragment``, an existing id;
* the console shows no error.

One chapter is screenshot, whole, to ``_build/screenshots/`` for a person to look at.

Chromium is Debian's ``chromium`` (driven by Playwright, which downloads no browser). Where it
is missing the tests skip, and fail where ``BOOK_BROWSER_TEST=required`` (as .ci/run sets).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("BOOK_BROWSER_TEST") == "required"
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) and `make setup`, "
    "or set CHROMIUM=/path/to/chromium"
)

pytestmark = pytest.mark.browser

# Console errors that are known, harmless, and not the book's to fix, each with its reason.
ALLOWED_CONSOLE_ERRORS = {
    # sphinx-thebe 0.3.1 under Sphinx 7.4 writes its configuration script into every page
    # twice; the second copy fails on the first one's `const`. The first copy defines all
    # there is, and the book has no Live Code (thebe) button to use it anyway.
    "Identifier 'THEBE_JS_URL' has already been declared",
}


def toc_pages() -> list[str]:
    """The pages of ``_toc.yml`` in reading order, as paths without suffix (``book/intro``, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            pages.append(entry["file"])
            walk(entry.get("sections", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part["chapters"])
    return pages


def colab_url(page: str) -> str:
    """The Colab launch URL of ``page`` (e.g. ``book/agave``), from _config.yml's repository settings."""
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    owner_repo = repository["url"].rstrip("/").removeprefix("https://github.com/")
    path = "/".join(p for p in (repository.get("path_to_book", "").strip("/"), f"{page}.ipynb") if p)
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{repository['branch']}/{path}"


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM if set, else ``chromium`` on PATH; None if there is none."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium browser (one per test process)."""
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable, missing = None, "the Python package playwright is not installed"
    else:
        missing = f"no executable {os.environ.get('CHROMIUM') or 'chromium'} on PATH"
    if executable is None:
        message = f"the browser tests need Chromium: {missing}; {INSTALL_HINT}"
        if REQUIRED:
            pytest.fail(f"BOOK_BROWSER_TEST=required, but {message}", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def serve(folder: Path):
    """Serve ``folder`` on a free local port in a thread; return the server (``.url`` holds its address)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def site(chromium, smoke_book):
    """The smoke build of the book served over HTTP: (base URL, HTML folder)."""
    server = serve(smoke_book)
    yield server.url, smoke_book
    server.shutdown()
    server.server_close()


@functools.lru_cache(maxsize=None)
def ids_in(file: Path) -> frozenset:
    """The ids (and old-style anchor names) that ``file`` defines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(file.read_text(errors="replace"), "html.parser")
    return frozenset(tag["id"] for tag in soup.find_all(id=True)) | frozenset(
        tag["name"] for tag in soup.find_all("a", attrs={"name": True})
    )


# Run in the page once it has loaded: waits for the images and the math, then reports.
INSPECT_PAGE = r"""async (mathjaxTimeoutMs) => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  await Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done); img.addEventListener("error", done); })));
  const mathElements = [...document.querySelectorAll(".math")];
  let mathjax = "not needed";
  if (mathElements.length) {
    const started = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - started < mathjaxTimeoutMs)
      await new Promise(done => setTimeout(done, 100));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
      mathjax = "typeset";
    } else mathjax = "MathJax did not start (the book must ship it: sphinx-mathjax-offline in _config.yml)";
  }
  // Raw TeX left in text nodes outside code, scripts and MathJax's own output.
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, { acceptNode(node) {
    for (let el = node.parentElement; el; el = el.parentElement)
      if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT;
  }});
  const rawTex = [];
  while (walker.nextNode())
    if (/\$\$|\\\(|\\\[/.test(walker.currentNode.nodeValue)) rawTex.push(walker.currentNode.nodeValue.trim().slice(0, 80));
  const article = document.querySelector("article") || document.querySelector("main") || document.body;
  return {
    textLength: article.innerText.trim().length,
    mathjax,
    untypeset: mathElements.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.trim().slice(0, 80)),
    mathErrors: [...document.querySelectorAll("mjx-merror")].map(el => el.getAttribute("data-mjx-error") || el.textContent),
    rawTex,
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute("src")),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  };
}"""


def inspect_page(browser, url: str, folder: Path, colab: str | None = None, screenshot: Path | None = None,
                 mathjax_timeout_ms: int = 30_000) -> list[str]:
    """Open ``url`` (a page of the site ``folder`` served at its origin) and list what is wrong with it.

    ``colab``: the URL every Colab link of the page must have (``None``: the page must have none).
    ``screenshot``: where to save a full-page screenshot. Requests to other hosts are blocked.
    """
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)

    def route(request_route):
        if request_route.request.url.startswith(origin + "/") or request_route.request.url.startswith("data:"):
            request_route.continue_()
        else:
            problems.append(f"the page reaches off the machine (it must work offline) for {request_route.request.url}")
            request_route.abort()

    page.route("**/*", route)
    def console_error(text: str) -> None:
        if not any(allowed in text for allowed in ALLOWED_CONSOLE_ERRORS):
            problems.append(text)

    page.on("console", lambda message: message.type == "error" and console_error(
        f"console error: {message.text} ({message.location.get('url', '')})"))
    page.on("pageerror", lambda error: console_error(f"uncaught script error: {error}"))
    page.on("response", lambda response: response.status >= 400 and problems.append(
        f"HTTP {response.status} for {response.url}"))
    try:
        response = page.goto(url, wait_until="load")
        if response is None or response.status != 200:
            return problems + [f"{url} answered {response and response.status}, not 200"]
        found = page.evaluate(INSPECT_PAGE, mathjax_timeout_ms)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()

    if found["textLength"] < 200:
        problems.append(f"the article holds only {found['textLength']} characters of text")
    if found["mathjax"] != "typeset" and found["mathjax"] != "not needed":
        problems.append(found["mathjax"])
    problems += [f"math not typeset: {text!r}" for text in found["untypeset"]]
    problems += [f"MathJax error: {text!r}" for text in found["mathErrors"]]
    problems += [f"raw TeX in the text: {text!r}" for text in found["rawTex"]]
    problems += [f"image does not load: {src}" for src in found["brokenImages"]]

    # The launch button opens a chapter's notebook (book/*.ipynb); links in the text to the
    # coursework's student notebooks (assignments/student/...) are content, checked elsewhere.
    colab_links = sorted({link for link in found["links"] if link.startswith("https://colab.research.google.com")
                          and "/assignments/student/" not in link})
    if colab is not None and colab_links != [colab]:
        problems.append(f"the Colab button opens {colab_links or 'nothing'}, not {colab}")
    if colab is None and colab_links:
        problems.append(f"a page with no notebook has a Colab button to {colab_links}")

    for link in sorted(set(found["links"])):
        parts = urlsplit(link)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            continue
        target = folder / unquote(parts.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link to a missing file: {link}")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_in(target):
            problems.append(f"link to a missing id: {link}")
    return problems


PAGES = toc_pages()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_chromium(chromium, site, page: str) -> None:
    base, folder = site
    has_notebook = (ROOT / f"{page}.ipynb").exists()  # a chapter; the preface has none to launch
    screenshot = SCREENSHOTS / f"{Path(page).name}.png" if page == PAGES[min(1, len(PAGES) - 1)] else None
    problems = inspect_page(chromium, f"{base}/{page}.html", folder,
                            colab=colab_url(page) if has_notebook else None, screenshot=screenshot)
    shown = problems[:30] + ([f"... and {len(problems) - 30} more"] if len(problems) > 30 else [])
    assert not problems, f"{page}.html in Chromium:\n  " + "\n  ".join(shown)
    if screenshot is not None:
        assert screenshot.stat().st_size > 10_000, f"the screenshot {screenshot} is nearly empty"


def test_the_checks_catch_a_broken_page(chromium, tmp_path: Path) -> None:
    """A page with one defect of each kind: each check must report its defect."""
    (tmp_path / "pic.png").write_bytes(b"not a png")
    (tmp_path / "other.html").write_text('<p id="there">other</p>')
    (tmp_path / "page.html").write_text(
        "<html><body><article>" + "Words of the page. " * 20 +
        "<p>Unprocessed display math: $$x^2$$</p>"
        '<span class="math">\\(y\\)</span>'
        '<img src="pic.png"><img src="missing.png"><img src="https://example.org/far.png">'
        '<a href="https://colab.research.google.com/github/someone/else/blob/main/x.ipynb">Colab</a>'
        '<a href="nowhere.html">a</a><a href="other.html#gone">b</a><a href="other.html#there">c</a>'
        "<script>undefinedFunction()</script>"
        "<script>const THEBE_JS_URL = 1</script><script>const THEBE_JS_URL = 2</script>"
        "</article></body></html>"
    )
    server = serve(tmp_path)
    try:
        problems = inspect_page(chromium, f"{server.url}/page.html", tmp_path,
                                colab="https://colab.research.google.com/github/o/r/blob/main/book/x.ipynb",
                                mathjax_timeout_ms=500)
    finally:
        server.shutdown()
        server.server_close()
    report = "\n".join(problems)
    for expected in ("MathJax did not start", "math not typeset: '\\\\(y\\\\)'", "raw TeX in the text",
                     "image does not load: pic.png", "image does not load: missing.png",
                     "HTTP 404", "the Colab button opens", "link to a missing file:",
                     "link to a missing id:", "undefinedFunction",
                     "off the machine (it must work offline) for https://example.org/far.png"):
        assert expected in report, f"the checks missed {expected!r}; they reported:\n{report}"
    assert "#there" not in report, f"a link to an existing id was reported:\n{report}"
    assert "THEBE_JS_URL" not in report, f"an allowed console error was reported:\n{report}"


# A chapter of the notebooks that Colab opens, rendered by nbconvert as Jupyter shows it: the
# one with the most theorems, proofs, equation references and literalincluded code.
NOTEBOOK_PAGE = "symmetric_discriminators"
MYST_IN_TEXT = ("```{", "{cite}", "{eq}", "{prf:", "{doc}", ":pyobject:", "{literalinclude}", "{solution")


def render_notebook(notebook: Path, folder: Path) -> Path:
    """``notebook`` as HTML (nbconvert's lab template) in ``folder``, with the book's offline MathJax 3."""
    import sysconfig

    from nbconvert import HTMLExporter

    # the package's folder has a dash in its name, so it is found as a folder, not imported
    mathjax = Path(sysconfig.get_paths()["purelib"]) / "sphinx-mathjax-offline" / "static" / "mathjax"
    shutil.copytree(mathjax, folder / "mathjax")
    # nbconvert's template configures MathJax 2; MathJax 3 reads window.MathJax before it loads
    (folder / "load-mathjax.js").write_text(
        "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true},"
        " startup: {typeset: true}};\n"
        "const script = document.createElement('script'); script.src = 'mathjax/tex-chtml-full.js';"
        " document.head.appendChild(script);\n"
    )
    html, _ = HTMLExporter(template_name="lab", mathjax_url="load-mathjax.js").from_filename(str(notebook))
    page = folder / "notebook.html"
    page.write_text(html)
    return page


def test_a_built_notebook_renders_in_chromium(chromium, tmp_path: Path) -> None:
    source = (ROOT / "book" / f"{NOTEBOOK_PAGE}.md").read_text()
    notebook = ROOT / "book" / f"{NOTEBOOK_PAGE}.ipynb"
    render_notebook(notebook, tmp_path)
    server = serve(tmp_path)
    page = chromium.new_page()
    try:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.url)
                   else route.abort())  # offline, as in the book's own test
        page.goto(f"{server.url}/notebook.html")
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=60_000)
        page.wait_for_timeout(1500)  # let MathJax finish the page
        found = page.evaluate("""() => {
            const text = document.body.innerText;
            const prose = [...document.querySelectorAll('.jp-MarkdownCell')].map(c => {
                const copy = c.cloneNode(true);
                copy.querySelectorAll('pre, code, mjx-container').forEach(e => e.remove());
                return copy.innerText;
            }).join('\\n');
            return {
                text, prose,
                math: document.querySelectorAll('.jp-MarkdownCell mjx-container').length,
                errors: document.querySelectorAll('mjx-merror').length,
                codeCells: document.querySelectorAll('.jp-CodeCell').length,
                codeBlocks: document.querySelectorAll('.jp-MarkdownCell pre').length,
                closedSolutions: document.querySelectorAll('.jp-MarkdownCell details:not([open])').length,
            };
        }""")
    finally:
        page.close()
        server.shutdown()
        server.server_close()
    expected_code = source.count("```{code-cell}")
    assert found["math"] > 100, f"only {found['math']} formulas typeset in the notebook's markdown"
    assert found["errors"] == 0, f"{found['errors']} formulas failed to typeset"
    for raw in ("$$", "\\(", "\\["):
        assert raw not in found["prose"], f"raw TeX {raw!r} is visible in the notebook's text"
    for syntax in MYST_IN_TEXT:
        assert syntax not in found["text"], f"raw MyST {syntax!r} is visible in the rendered notebook"
    assert found["codeCells"] >= expected_code, f"{found['codeCells']} code cells for {expected_code} in the chapter"
    assert found["codeBlocks"] >= source.count("```{literalinclude}"), "the literalincluded code is not shown"
    assert found["closedSolutions"] == len(re.findall(r"^```\{solution", source, re.M)), "solutions are not collapsed"
    assert "Theorem" in found["text"] and "(Lucas, 2020)" in found["text"]
