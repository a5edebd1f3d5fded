"""shipping.py: what the docs, unit and package tests share: the key table read from the C source, man
pages rendered from their scdoc sources, and the tree's paths."""
import os
import re
import shutil
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAN_SRC = os.path.join(TOP, "docs", "man")
UNIT = os.path.join(TOP, "systemd", "guardlet.service")
DEFAULT_CONF = os.path.join(TOP, "packaging", "guardlet.conf")
MACROS = ("STRING", "KEY", "DURATION", "ANY_DURATION", "BOOL", "QUANTITY", "PERCENT_ABOVE")


def _split_args(text, start):
    """The arguments of the macro call whose '(' is at text[start], split at top-level commas."""
    args, depth, cur, i, in_str = [], 0, "", start + 1, False
    while i < len(text):
        ch = text[i]
        if in_str:
            cur += ch
            if ch == "\\":
                cur += text[i + 1]
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            cur += ch
        elif ch in "([{":
            depth += 1
            cur += ch
        elif ch in ")]}":
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    raise ValueError("unterminated macro call")


def _c_string(arg):
    """A C string literal (adjacent literals joined), or None for NULL."""
    if arg == "NULL":
        return None
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', arg)
    return "".join(parts)


def config_keys():
    """[(section, key, default or None, is_list)] in the order of gl_config_keys[] in config-keys.c;
    Rule's default is the list default_rules[]."""
    with open(os.path.join(TOP, "src", "common", "config-keys.c")) as f:
        src = f.read()
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    table = src[src.index("const gl_config_key gl_config_keys[] = {"):]
    table = table[:table.index("\n};")]
    keys = []
    for m in re.finditer(r"\b(%s)\(" % "|".join(MACROS), table):
        args = _split_args(table, m.end() - 1)
        section, name = _c_string(args[0]), _c_string(args[1])
        default = _c_string(args[4] if m.group(1) == "KEY" else args[3])
        is_list = m.group(1) == "KEY" and args[9] == "true"
        keys.append((section, name, default, is_list))
    rules = src[src.index("default_rules[] = {"):]
    rules = re.findall(r'"([^"]*)"', rules[:rules.index("};")])
    return [(s, k, rules if k == "Rule" else d, lst) for s, k, d, lst in keys]


def render_man(dest):
    """Renders docs/man/*.scd as `make man` does, into dest/manN/; returns the page paths."""
    if not shutil.which("scdoc"):
        return None
    pages = []
    for name in sorted(os.listdir(MAN_SRC)):
        if not name.endswith(".scd"):
            continue
        page = name[:-4]
        d = os.path.join(dest, "man" + page.rsplit(".", 1)[1])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(MAN_SRC, name)) as src:
            scdoc = subprocess.run(["scdoc"], stdin=src, stdout=subprocess.PIPE, check=True)
        out = os.path.join(d, page)
        with open(out, "wb") as f:
            subprocess.run(["awk", "-f", os.path.join(MAN_SRC, "tidy.awk")], input=scdoc.stdout,
                           stdout=f, check=True)
        pages.append(out)
    return pages


def sections(text, heading):
    """{section: body} of a text split at lines matching heading (a regex with one group)."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(heading, line)
        if m:
            cur = m.group(1)
            out.setdefault(cur, "")
        elif cur is not None:
            out[cur] += line + "\n"
    return out
