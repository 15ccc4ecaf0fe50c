#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mangen.py - libgpc's man pages, generated from the headers' doc comments.

  mangen.py generate --headers include/gpc --out build/man --version 0.2.0
  mangen.py check --headers include/gpc --map src/libgpc.map --out build/man
                  --cc gcc [--cflags ...]

generate writes man3/<function>.3 for every documented function of
include/gpc/*.h, man7/gpc_<header>.h.7 for every header (its top comment and
its functions) and man7/libgpc.7 (the overview). A doc comment is

    /**                                 (or "/*")
     * gpc_name - summary (may continue on the next lines).
     * @arg: what it is (continuation lines are indented or plain text).
     *
     * Description paragraphs; lines indented with a tab are code.
     * Return: ...
     * Context: ...
     */
    <the prototype, or a static inline definition>

check fails (exit 1) when a public function has no page or a page's SYNOPSIS
disagrees with the header:
  - the public functions are what the compiler sees (gcc -aux-info on a file
    that includes every header): each one declared in include/gpc/ whose name
    has no double underscore and is not in the map's LIBGPC_PRIVATE node
    (static inline ones too); every one needs a page;
  - every page's SYNOPSIS is compiled as a redeclaration after the headers, so
    a type that differs from the header's is a "conflicting types" error;
  - every page's SYNOPSIS equals the prototype parsed from the header now (a
    stale page, a renamed parameter), and every @argument a comment
    documents is a parameter of the prototype.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MANUAL = "libgpc Manual"

# ---------------------------------------------------------------------------
# Parsing the headers
# ---------------------------------------------------------------------------

COMMENT_RE = re.compile(r"/\*\*?(?!/)(.*?)\*/", re.S)
NAME_RE = re.compile(r"^(gpc_[A-Za-z0-9_]+)\s+-\s+(.*)$")
PARAM_RE = re.compile(r"^@([A-Za-z0-9_]+|\.\.\.):\s*(.*)$")
SECTION_RE = re.compile(r"^(Return|Context):\s*(.*)$")


def comment_lines(body):
    """The text of a comment, one entry per line, without the " * "."""
    out = []
    for line in body.split("\n"):
        line = re.sub(r"^\s*\* ?", "", line, count=1) if re.match(
            r"^\s*\*", line) else line.strip()
        out.append(line.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def split_sections(lines):
    """"... see above. Context: may sleep." -> two lines."""
    out = []
    for line in lines:
        parts = re.split(r"(?<=\.) +(?=(?:Return|Context): )", line)
        out += parts
    return out


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def declaration_after(text, pos):
    """The declaration that starts at pos: up to ';' or '{' at depth 0."""
    depth = 0
    i = pos
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c in ";{":
            return text[pos:i]
        elif depth == 0 and c == "}":
            return None
        i += 1
    return None


def normalise(decl):
    """One line, single spaces, the display form of the inline macro."""
    decl = strip_comments(decl)
    decl = re.sub(r"\s+", " ", decl).strip()
    decl = re.sub(r"\bgpc_always_inline\b", "inline", decl)
    decl = re.sub(r"\s*\(\s*", "(", decl)
    decl = re.sub(r"\s*\)", ")", decl)
    decl = re.sub(r"\s*,\s*", ", ", decl)
    decl = re.sub(r"\*\s+(?=[A-Za-z_(])", "*", decl)
    return decl


def function_name(decl):
    """The name of the function decl declares, or None (macro, variable)."""
    if decl.lstrip().startswith("#"):
        return None
    m = re.search(r"\b(gpc_[A-Za-z0-9_]+)\s*\(", decl)
    if not m:
        return None
    head = decl[:m.start()]
    # A function pointer variable or typedef has "(*" before the name.
    if "(" in head or "=" in head or re.search(r"\btypedef\b", head):
        return None
    return m.group(1)


class Func:
    def __init__(self, name, summary, lines, proto, header, group):
        self.name = name
        self.group = group  # the comment shared with its neighbours
        self.summary = summary
        self.lines = lines
        self.proto = proto
        self.header = header


def parse_header(path):
    """(top comment lines, [Func]) of one header."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    header = os.path.basename(path)
    top = []
    funcs = []
    # A comment without a name that has Return:/Context: lines documents the
    # functions whose comments follow it (hostmem.h's change helpers): each
    # of their pages gets it too.
    group = []
    group_end = 0
    for m in COMMENT_RE.finditer(text):
        lines = split_sections(comment_lines(m.group(1)))
        if not lines:
            continue
        if not top and re.match(r"^gpc/[a-z_0-9]+\.h - ", lines[0]):
            top = lines
            continue
        nm = NAME_RE.match(lines[0])
        if not nm:
            group = lines if any(SECTION_RE.match(x) for x in lines) else []
            group_end = m.end()
            continue
        if text[group_end:m.start()].strip():
            group = []  # something else came between
        # The summary goes on until a blank line, an argument or a section.
        summary = [nm.group(2)]
        rest = lines[1:]
        while rest and rest[0].strip() and not PARAM_RE.match(rest[0]) \
                and not SECTION_RE.match(rest[0]) \
                and not summary[-1].rstrip().endswith("."):
            summary.append(rest.pop(0).strip())
        rest_pos = m.end()
        while rest_pos < len(text) and text[rest_pos].isspace():
            rest_pos += 1
        decl = declaration_after(text, rest_pos)
        if decl is None or function_name(decl) != nm.group(1):
            group = []
            continue  # a macro or a comment about something else
        group_end = rest_pos + len(decl) + 1
        summary = re.sub(r"@([A-Za-z0-9_]+)", r"\1", " ".join(summary))
        funcs.append(Func(nm.group(1), summary.rstrip("."), rest,
                          normalise(decl), header, group))
    return top, funcs


def parse_all(hdir):
    headers = {}
    for name in sorted(os.listdir(hdir)):
        if name.endswith(".h"):
            headers[name] = parse_header(os.path.join(hdir, name))
    return headers


# ---------------------------------------------------------------------------
# roff
# ---------------------------------------------------------------------------


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return s


def inline_markup(s, known):
    """Escape text; @arg in italics, known functions in bold."""
    out = []
    pos = 0
    for m in re.finditer(r"@([A-Za-z0-9_]+)|\b(gpc_[A-Za-z0-9_]+)\(\)", s):
        out.append(esc(s[pos:m.start()]))
        if m.group(1):
            out.append("\\fI" + esc(m.group(1)) + "\\fP")
        else:
            out.append("\\fB" + esc(m.group(2)) + "\\fP()")
        pos = m.end()
    out.append(esc(s[pos:]))
    line = "".join(out)
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def paragraphs(lines, known):
    """Body text to roff: paragraphs, "- " items, tab-indented code."""
    out = []
    in_code = False
    in_list = False
    pending_break = False
    for line in lines:
        if line.startswith("\t") or line.startswith("    "):
            if not in_code:
                out.append(".PP" if not in_list else ".IP")
                out.append(".nf")
                out.append(".RS 4")
                in_code = True
            out.append(inline_markup(line.expandtabs(8)[8:] if
                                     line.startswith("\t") else line[4:],
                                     set()))
            continue
        if in_code:
            out.append(".RE")
            out.append(".fi")
            in_code = False
        if not line.strip():
            pending_break = True
            continue
        item = re.match(r"^\s*- (.*)$", line)
        if item:
            out.append(".IP \\(bu 2")
            out.append(inline_markup(item.group(1), known))
            in_list = True
            pending_break = False
            continue
        if pending_break or not out:
            out.append(".PP")
            in_list = False
            pending_break = False
        out.append(inline_markup(line.strip(), known))
    if in_code:
        out.append(".RE")
        out.append(".fi")
    return out


def split_params(proto):
    """(text up to and including '(', [params], ')...;') at depth 1 commas."""
    start = proto.index("(", proto.index(re.search(
        r"\bgpc_[A-Za-z0-9_]+\s*\(", proto).group(0)))
    depth = 0
    params = []
    cur = ""
    for i in range(start, len(proto)):
        c = proto[i]
        if c == "(":
            depth += 1
            if depth == 1:
                continue
        elif c == ")":
            depth -= 1
            if depth == 0:
                params.append(cur.strip())
                return proto[:start + 1], params, proto[i:]
        if c == "," and depth == 1:
            params.append(cur.strip())
            cur = ""
            continue
        cur += c
    raise ValueError("unbalanced prototype: " + proto)


def param_names(proto):
    """The parameter names of a prototype (a function pointer's too)."""
    names = set()
    for p in split_params(proto)[1]:
        p = re.sub(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\).*", r"\1", p)
        m = re.search(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*$", p)
        if m:
            names.add(m.group(1))
    return names


def synopsis_lines(func):
    """The prototype, wrapped at parameter boundaries, as plain text."""
    head, params, tail = split_params(func.proto)
    lines = []
    cur = head
    indent = " " * len(head) if len(head) < 40 else " " * 8
    for i, p in enumerate(params):
        piece = p + ("," if i < len(params) - 1 else tail + ";")
        if cur.endswith("(") or len(cur) + 1 + len(piece) <= 72:
            cur += ("" if cur.endswith("(") else " ") + piece
        else:
            lines.append(cur)
            cur = indent + piece
    lines.append(cur)
    return lines


def th(name, section, version, date):
    return ['.\\" Generated by man/mangen.py from the libgpc headers; '
            "do not edit.",
            '.TH "%s" %s "%s" "libgpc %s" "%s"' % (esc(name.upper()), section,
                                                   date, version, MANUAL)]


def parse_body(lines):
    """([[arg, text lines]], description lines, {Return:, Context:})."""
    args, desc, sections = [], [], {"Return": [], "Context": []}
    cur = desc
    for line in lines:
        pm = PARAM_RE.match(line)
        sm = SECTION_RE.match(line)
        in_section = any(cur is v for v in sections.values())
        if pm and not in_section:
            args.append([pm.group(1), [pm.group(2)]])
            cur = args[-1][1]
        elif sm:
            cur = sections[sm.group(1)]
            if sm.group(2):
                cur.append(sm.group(2))
        elif cur is not desc and not in_section and \
                (not line.strip() or not line.startswith((" ", "\t"))):
            # An argument's text ends at a blank or unindented line.
            cur = desc
            cur.append(line)
        else:
            cur.append(line if cur is desc else line.strip())
    return args, desc, sections


def page(func, version, date, known):
    out = th(func.name, "3", version, date)
    out += [".SH NAME", "%s \\- %s" % (esc(func.name), esc(func.summary)),
            ".SH LIBRARY", "libgpc (\\fI\\-lgpc\\fP; \\fBpkg\\-config "
            "\\-\\-cflags \\-\\-libs libgpc\\fP)",
            ".SH SYNOPSIS", ".nf", ".B #include <gpc/%s>" % func.header,
            ".PP"]
    for line in synopsis_lines(func):
        out.append(esc(line).replace(esc(func.name) + "(",
                                     "\\fB" + esc(func.name) + "\\fP(", 1))
    out.append(".fi")
    args, desc, sections = parse_body(func.lines)
    if func.group:
        # The shared comment: after the function's own text; its Return and
        # Context where the function has none of its own.
        _, gdesc, gsections = parse_body(func.group)
        desc += [""] + gdesc
        for k in sections:
            sections[k] = sections[k] or gsections[k]
    if args:
        out.append(".SH ARGUMENTS")
        for name, text in args:
            out.append(".TP")
            out.append("\\fI%s\\fP" % esc(name))
            out.append(inline_markup(" ".join(t.strip() for t in text),
                                     known))
    if any(line.strip() for line in desc):
        out.append(".SH DESCRIPTION")
        out += paragraphs(desc, known)
    if sections["Return"]:
        out.append(".SH RETURN VALUE")
        out += paragraphs(sections["Return"], known)
    if sections["Context"]:
        out.append(".SH CONTEXT")
        out += paragraphs(sections["Context"], known)
    refs = []
    for line in func.lines + func.group:
        for r in re.findall(r"\b(gpc_[A-Za-z0-9_]+)\(\)", line):
            if r in known and r != func.name and r not in refs:
                refs.append(r)
    out.append(".SH SEE ALSO")
    also = ["\\fB%s\\fP(3)" % esc(r) for r in sorted(refs)]
    also.append("\\fB%s\\fP(7)" % esc(header_page(func.header)))
    also.append("\\fBlibgpc\\fP(7)")
    out.append(",\n".join(also))
    return "\n".join(out) + "\n"


def header_page(header):
    """gpc_cache.h for <gpc/cache.h>; gpc.h for <gpc/gpc.h>."""
    return header if header == "gpc.h" else "gpc_" + header


def top_summary(top):
    """(summary, rest) of a header's top comment: its first paragraph."""
    n = 0
    while n < len(top) and top[n].strip():
        n += 1
    first = " ".join(x.strip() for x in top[:n])
    return first.split(" - ", 1)[1].rstrip("."), top[n:]


def header_overview(header, top, funcs, version, date, known):
    name = header_page(header)
    summary, body = top_summary(top) if top else (header, [])
    out = th(name, "7", version, date)
    out += [".SH NAME", "%s \\- %s" % (esc(name), esc(summary)),
            ".SH SYNOPSIS", ".nf", ".B #include <gpc/%s>" % header, ".fi"]
    if any(line.strip() for line in body):
        out.append(".SH DESCRIPTION")
        out += paragraphs(body, known)
    if funcs:
        out.append(".SH FUNCTIONS")
        for f in funcs:
            out += [".TP", "\\fB%s\\fP(3)" % esc(f.name), esc(f.summary)]
    out += [".SH SEE ALSO", "\\fBlibgpc\\fP(7)"]
    return "\n".join(out) + "\n"


def libgpc_overview(headers, version, date):
    out = th("libgpc", "7", version, date)
    out += [".SH NAME",
            "libgpc \\- a gfn\\-to\\-pfn cache for userspace virtual machine "
            "monitors",
            ".SH SYNOPSIS", ".nf", ".B #include <gpc/gpc.h>", ".PP",
            "cc ... $(pkg\\-config \\-\\-cflags \\-\\-libs libgpc)", ".fi",
            ".SH DESCRIPTION",
            "libgpc caches the translation of a guest physical address "
            "through the memslot table to a host page and a pointer to it, "
            "and guarantees that what it hands out is either still right or "
            "visibly invalid: memslot changes bump a generation, and "
            "invalidations of host ranges (an MMU\\-notifier style "
            "\\fBrange_start\\fP/\\fBrange_end\\fP pair) wait until no "
            "reader can still use an old page.",
            ".PP",
            "Readers check a cache on the fast path inside a read\\-side "
            "section, either of an SRCU domain with a seqcount "
            "(\\fBGPC_SCHEME_SRCU\\fP: any context, never blocks) or "
            "under a per\\-cache reader\\-writer lock "
            "(\\fBGPC_SCHEME_RWLOCK\\fP); on a miss they refresh the cache "
            "from a context that may sleep.",
            ".PP",
            "Every function returns a negative errno on error; each page "
            "says which errno means what, and in which context the call may "
            "be made.",
            ".SH VERSION",
            "This manual describes libgpc %s. The header gives "
            "\\fBGPC_VERSION_MAJOR\\fP, \\fBGPC_VERSION_MINOR\\fP, "
            "\\fBGPC_VERSION_PATCH\\fP, \\fBGPC_VERSION\\fP and "
            "\\fBGPC_VERSION_STRING\\fP (what a program is compiled "
            "against); \\fBgpc_version\\fP(3) and "
            "\\fBgpc_version_number\\fP(3) say which library it runs "
            "against. The shared library is \\fIlibgpc.so.0\\fP; its "
            "symbols are versioned (\\fBLIBGPC_0.1\\fP, \\fBLIBGPC_0.2\\fP, "
            "...), and docs/abi.md in the source tree states the "
            "compatibility rules." % version,
            ".SH HEADERS"]
    for header, (top, funcs) in headers.items():
        if not top and not funcs:
            continue
        summary = top_summary(top)[0] if top else ""
        out += [".TP", "\\fB%s\\fP(7)" % esc(header_page(header)),
                "<gpc/%s>: %s" % (header, esc(summary))]
    out.append(".SH FUNCTIONS")
    for header, (top, funcs) in headers.items():
        for f in funcs:
            out += [".TP", "\\fB%s\\fP(3)" % esc(f.name), esc(f.summary)]
    out += [".SH SEE ALSO",
            "The README and docs/ of the source distribution: docs/design.md "
            "(the rules and where the code keeps them), docs/abi.md, "
            "docs/srcu.md."]
    return "\n".join(out) + "\n"


def generate(args):
    headers = parse_all(args.headers)
    known = {f.name for _, funcs in headers.values() for f in funcs}
    for sub in ("man3", "man7"):
        d = os.path.join(args.out, sub)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):  # functions that went away
            os.unlink(os.path.join(d, old))
    n = 0
    for header, (top, funcs) in headers.items():
        for f in funcs:
            write(os.path.join(args.out, "man3", f.name + ".3"),
                  page(f, args.version, args.date, known))
            n += 1
        if top or funcs:
            write(os.path.join(args.out, "man7", header_page(header) + ".7"),
                  header_overview(header, top, funcs, args.version,
                                  args.date, known))
    write(os.path.join(args.out, "man7", "libgpc.7"),
          libgpc_overview(headers, args.version, args.date))
    print("mangen: %d function pages, %d header pages, libgpc(7) in %s" %
          (n, sum(1 for t, f in headers.values() if t or f), args.out))
    return 0


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def map_symbols(path):
    """{node: [names]} of a linker version script."""
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    nodes = {}
    for m in re.finditer(r"([A-Za-z0-9_.]+)\s*\{(.*?)\}", text, re.S):
        body = re.sub(r"\blocal:.*", "", m.group(2), flags=re.S)
        body = body.replace("global:", "")
        nodes[m.group(1)] = re.findall(r"([A-Za-z0-9_]+)\s*;", body)
    return nodes


def compiler_functions(args, hdir, names):
    """{name: header} of every function the compiler sees in hdir."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "all.c")
        aux = os.path.join(tmp, "aux.txt")
        write(src, "".join("#include <gpc/%s>\n" % h for h in names))
        cmd = [args.cc, "-std=gnu11", "-D_GNU_SOURCE", "-fsyntax-only",
               "-I", os.path.dirname(os.path.abspath(hdir)),
               "-aux-info", aux, src] + args.cflags
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.stdout.write(r.stderr)
            raise SystemExit("mangen: %s failed on the headers" % args.cc)
        with open(aux, encoding="utf-8") as f:
            lines = f.readlines()
    hdir_abs = os.path.abspath(hdir)
    found = {}
    for line in lines:
        m = re.match(r"/\* (\S+):\d+:[A-Z]+ \*/ (.*)$", line)
        if not m or os.path.dirname(os.path.abspath(m.group(1))) != hdir_abs:
            continue
        fm = re.search(r"\b([A-Za-z_][A-Za-z0-9_]*) \(", m.group(2))
        if fm:
            found[fm.group(1)] = os.path.basename(m.group(1))
    return found


def page_synopsis(path):
    """(include line, prototype text) of a generated page."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        start = lines.index(".SH SYNOPSIS")
    except ValueError:
        return None, None
    inc = None
    proto = []
    state = 0
    for line in lines[start + 1:]:
        if line == ".fi":
            break
        if line.startswith(".B #include"):
            inc = line[3:]
        elif line == ".PP":
            state = 1
        elif state == 1:
            proto.append(line)
    text = " ".join(proto)
    text = re.sub(r"\\f[BIPR]", "", text)
    text = text.replace("\\-", "-").replace("\\e", "\\")
    return inc, re.sub(r"\s+", " ", text).strip()


def check(args):
    names = sorted(n for n in os.listdir(args.headers) if n.endswith(".h"))
    headers = parse_all(args.headers)
    documented = {f.name: f for _, funcs in headers.values() for f in funcs}
    nodes = map_symbols(args.map)
    private = set(nodes.get("LIBGPC_PRIVATE", []))
    seen = compiler_functions(args, args.headers, names)
    public = {n: h for n, h in seen.items()
              if n.startswith("gpc_") and "__" not in n and n not in private}
    errors = []
    man3 = os.path.join(args.out, "man3")
    for n, h in sorted(public.items()):
        p = os.path.join(man3, n + ".3")
        if n not in documented:
            errors.append("%s (%s): no doc comment (\"/**\\n * %s - summary."
                          "\" before its prototype), so no page" % (n, h, n))
        elif not os.path.exists(p):
            errors.append("%s: no page %s (rebuild the man target)" % (n, p))
    # A documented argument that the prototype does not have (a renamed
    # parameter whose comment stayed behind).
    for n in sorted(public):
        if n in documented:
            f = documented[n]
            have = param_names(f.proto)
            for arg, _ in parse_body(f.lines)[0]:
                if arg != "..." and arg not in have:
                    errors.append("%s: the comment documents @%s, the "
                                  "prototype's parameters are %s" %
                                  (n, arg, ", ".join(sorted(have))))
    decls = []
    for n in sorted(public):
        p = os.path.join(man3, n + ".3")
        if n not in documented or not os.path.exists(p):
            continue
        inc, proto = page_synopsis(p)
        want = " ".join(synopsis_lines(documented[n]))
        want = re.sub(r"\s+", " ", want).strip()
        if inc != "#include <gpc/%s>" % public[n]:
            errors.append("%s: page includes %s, declared in gpc/%s" %
                          (n, inc, public[n]))
        if proto != want:
            errors.append("%s: page SYNOPSIS '%s' differs from the header's "
                          "'%s'" % (n, proto, want))
        decls.append((n, proto))
    for old in sorted(os.listdir(man3)) if os.path.isdir(man3) else []:
        if old[:-2] not in public:
            errors.append("%s: a page for no public function" % old)
    # The pages' prototypes as redeclarations: a type that differs from the
    # header's is a compile error that names the function.
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "synopsis.c")
        write(src, "".join("#include <gpc/%s>\n" % h for h in names) +
              "".join("%s\n" % d for _, d in decls))
        cmd = [args.cc, "-std=gnu11", "-D_GNU_SOURCE", "-fsyntax-only",
               "-Werror", "-I",
               os.path.dirname(os.path.abspath(args.headers)), src] + \
            args.cflags
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            errors.append("the pages' SYNOPSIS do not compile against the "
                          "headers:\n" + r.stderr)
    if errors:
        for e in errors:
            print("mangen check: " + e)
        print("mangen check: FAILED (%d problems)" % len(errors))
        return 1
    print("mangen check: %d public functions, each with a page whose "
          "SYNOPSIS matches its header" % len(public))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["generate", "check"])
    ap.add_argument("--headers", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--version", default="")
    ap.add_argument("--date", default="")
    ap.add_argument("--map")
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--cflags", nargs="*", default=[])
    args = ap.parse_args()
    if args.mode == "generate":
        return generate(args)
    if not args.map:
        ap.error("check needs --map")
    if not shutil.which(args.cc):
        print("mangen check: SKIPPED: %s not found (the check needs gcc's "
              "-aux-info)" % args.cc)
        return 77
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
