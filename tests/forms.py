"""Read an admin page's form as a browser would submit it (no lxml/bs4 here)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Form(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self.data: list[tuple[str, str]] = []
        self.in_form = False
        self.select: str | None = None
        self.select_value: str | None = None
        self.select_first: str | None = None
        self.textarea: str | None = None
        self.text = ""
        self.option_value: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method", "").lower() == "post" and not self.in_form:
            self.in_form = True
            self.data = []
            self.forms.append(self.data)
        if not self.in_form:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((a["name"], a.get("value", "on")))
                return
            self.data.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self.select, self.select_value, self.select_first = a["name"], None, None
        elif tag == "option" and self.select:
            value = a.get("value", "")
            if self.select_first is None:
                self.select_first = value
            if "selected" in a:
                self.select_value = value
        elif tag == "textarea" and a.get("name"):
            self.textarea, self.text = a["name"], ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        if tag == "select" and self.select:
            value = self.select_value if self.select_value is not None else (self.select_first or "")
            self.data.append((self.select, value))
            self.select = None
        if tag == "textarea" and self.textarea:
            self.data.append((self.textarea, self.text.lstrip("\n")))
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.text += data


def forms_data(html: str) -> list[dict[str, str]]:
    """Each POST form of the page, as its fields would be sent (submit buttons left out)."""
    parser = _Form()
    parser.feed(html)
    return [dict(fields) for fields in parser.forms]


def form_data(html: str) -> dict[str, str]:
    """The page's main POST form: the one with the most fields (not the header's log-out form)."""
    return max(forms_data(html), key=len)


def form_with(html: str, field: str) -> dict[str, str]:
    """The page's POST form that has this field."""
    return next(form for form in forms_data(html) if field in form)
