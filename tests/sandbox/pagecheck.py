"""The HTML check every sandbox page passes: valid HTML5 that a screen reader, and so an agent's accessibility
tree, reads whole. Shared by the site contract (tests/sandbox/test_site_contract.py), which runs it on every page
a site's navigation reaches, and the site tests, which run it on pages only a form leads to."""

import html5lib

# Inputs that are no form field a person fills in, so they need no label.
UNLABELLED_INPUTS = {"hidden", "submit", "button", "image", "reset"}


def parse(body: str):
    """The page as a browser parses it (html5lib, the HTML5 algorithm), and the parse errors it reports."""
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    tree = parser.parse(body)
    return tree, [f"{code} {data}" if data else code for _, code, data in parser.errors]


def ancestors(parents: dict, element):
    while element in parents:
        element = parents[element]
        yield element


def accessible_name(tree, element) -> str:
    """The name a screen reader reads for a link or button: aria-label, what aria-labelledby points at, its
    text, an image's alt or a title (the parts of the accessible-name computation the sites use)."""
    if element.get("aria-label", "").strip():
        return element.get("aria-label").strip()
    if element.get("aria-labelledby"):
        ids = element.get("aria-labelledby").split()
        return " ".join("".join(e.itertext()) for e in tree.iter() if e.get("id") in ids).strip()
    text = "".join(element.itertext()).strip()
    alts = " ".join(img.get("alt", "") for img in element.iter("img")).strip()
    return text or alts or element.get("title", "").strip() or element.get("value", "").strip()


def accessibility_problems(body: str) -> list[str]:
    """What keeps the page from being valid HTML5 that a screen reader (and so an agent's accessibility tree)
    reads whole: parse errors, no language, not one h1, duplicate ids, unlabelled form fields, images without
    alt, tables without a caption, links and buttons without a name."""
    tree, problems = parse(body)
    parents = {child: parent for parent in tree.iter() for child in parent}
    root = tree if tree.tag == "html" else tree.find(".//html")
    if root is None or not root.get("lang"):
        problems.append("no <html lang>")
    headings = len(list(tree.iter("h1")))
    if headings != 1:
        problems.append(f"{headings} h1 elements")
    ids = [element.get("id") for element in tree.iter() if element.get("id") is not None]
    problems += [f"id {i!r} used {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1]
    label_for = {label.get("for") for label in tree.iter("label") if label.get("for")}
    for element in tree.iter():
        if element.tag in ("input", "select", "textarea"):
            if element.tag == "input" and element.get("type", "text").lower() in UNLABELLED_INPUTS:
                continue
            labelled = (
                element.get("id") in label_for
                or any(a.tag == "label" for a in ancestors(parents, element))
                or element.get("aria-label", "").strip()
                or element.get("aria-labelledby")
            )
            if not labelled:
                problems.append(f"unlabelled <{element.tag} name={element.get('name')!r}>")
        elif element.tag == "img" and element.get("alt") is None:
            problems.append(f"<img src={element.get('src')!r}> has no alt")
        elif element.tag == "table" and element.find("caption") is None:
            problems.append("a <table> without a <caption>")
        elif element.tag == "button" or (element.tag == "a" and element.get("href") is not None):
            if not accessible_name(tree, element):
                problems.append(f"<{element.tag}> without an accessible name")
    return problems
