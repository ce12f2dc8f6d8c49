"""Pure builders of the Model page: the GPT as cytoscape elements, colours by a statistic,
node details, layer × step heatmaps and the attention grid. No Dash, no store: arrays in, dicts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..architecture import (
    ACTIVATION_STATS, STAT_LABELS, Architecture, GraphView, block_id, block_summary, explain_block, human,
    parse_stat_key, view,
)

COLORSCALE = "Viridis"  # perceptually uniform and readable with the common colour-vision deficiencies
LOG_STATS = frozenset({"grad_norm", "update_ratio"})  # these span decades: coloured by log10
ROW_PX = 54
COLUMN_PX = 280
SIDE_PX = 230  # wpe sits left of wte, outside the columns
MAX_ROWS = 15  # past this many rows the blocks wrap into further columns (for a landscape view)
NO_DATA = "#d9d9d9"
KIND_COLOURS = {
    "input": "#f0f0f0", "embedding": "#c6dbef", "layernorm": "#fdd0a2", "linear": "#c7e9c0",
    "attention": "#dadaeb", "add": "#ffffff", "activation": "#fcbba1", "block": "#e5e5e5",
}

Series = tuple[np.ndarray, np.ndarray]  # (steps, values) of one metric, oldest first


# -- the graph -----------------------------------------------------------------------------

def rows_for(aspect: float | None) -> int:
    """How many rows a column holds for a view `aspect` (height / width) high: fewer, wider columns on a phone."""
    if not aspect or not math.isfinite(aspect):
        return MAX_ROWS
    return int(min(60, max(12, round(17 * aspect))))


def positions(v: GraphView, max_rows: int = MAX_ROWS) -> dict[str, tuple[float, float]]:
    """Where each leaf sits: a top-down flow; long models wrap into columns of at most `max_rows` rows."""
    pos: dict[str, tuple[float, float]] = {}
    col, row = 0, 0.0

    def place(node: str, dx: float = 0.0) -> None:
        pos[node] = (col * COLUMN_PX + dx, row * ROW_PX)

    for node in ("idx", "transformer.wte"):
        place(node)
        row += 1
    pos["transformer.wpe"] = (-SIDE_PX, 0.0)
    place("transformer.drop")
    row += 1
    expanded = set(v.blocks_expanded)
    n_blocks = len(v.blocks_expanded) + len(v.blocks_collapsed)
    for i in range(n_blocks):
        height = 10.6 if i in expanded else 1.0
        if row + height > max_rows and row > 0:
            col, row = col + 1, 0.0
        if i in expanded:
            row += 0.3
            for part in ("ln_1", "attn.c_attn", "attn.heads", "attn.c_proj", "add_1",
                         "ln_2", "mlp.c_fc", "mlp.gelu", "mlp.c_proj", "add_2"):
                place(f"{block_id(i)}.{part}")
                row += 1
            row += 0.3
        else:
            place(block_id(i))
            row += 1
    for node in ("transformer.ln_f", "lm_head"):
        place(node)
        row += 1
    return pos


def elements(
    arch: Architecture,
    expanded: Sequence[int],
    colours: Mapping[str, str] | None = None,
    values: Mapping[str, float] | None = None,
    max_rows: int = MAX_ROWS,
) -> list[dict]:
    """Cytoscape elements of the graph; `colours`/`values` (by node id) paint nodes by a statistic."""
    v = view(arch, expanded)
    pos = positions(v, max_rows)
    colours, values = colours or {}, values or {}
    out: list[dict] = []
    for i in v.blocks_expanded:
        out.append({"data": {"id": block_id(i), "label": f"block {i}"}, "classes": "block expanded"})
    for leaf in v.leaves:
        if arch.has(leaf):
            node = arch.node(leaf)
            kind, label, count = node.kind, node.label, node.param_count
        else:
            i = int(leaf.rsplit(".", 1)[1])
            kind, label, count = "block", f"block {i}", block_summary(arch, i).param_count
        label = f"{label}\n{human(count)} params" if count else label
        fill = colours.get(leaf, NO_DATA if colours else KIND_COLOURS[kind])
        data = {"id": leaf, "label": label, "bg": fill, "fg": text_colour(fill)}
        if leaf in values:
            data["value"] = values[leaf]
        if leaf in v.parents:
            data["parent"] = v.parents[leaf]
        x, y = pos[leaf]
        out.append({"data": data, "position": {"x": x, "y": y}, "classes": kind})
    for e in v.edges:
        out.append({"data": {"id": f"{e.source}->{e.target}", "source": e.source, "target": e.target},
                    "classes": e.kind})
    return out


STYLESHEET: list[dict] = [
    {"selector": "node", "style": {
        "label": "data(label)", "shape": "round-rectangle", "width": 200, "height": 36,
        "border-width": 1, "border-color": "#7f7f7f",
        "text-valign": "center", "text-halign": "center", "text-wrap": "wrap", "text-max-width": 190,
        "font-size": 12}},
    # only leaves carry fill and label colours (an expanded block has none: cytoscape warns of a mapping without data)
    {"selector": "node[bg]", "style": {"background-color": "data(bg)", "color": "data(fg)"}},
    {"selector": ".add", "style": {"shape": "ellipse", "width": 120}},
    {"selector": ".input", "style": {"shape": "tag"}},
    {"selector": ".expanded", "style": {
        "background-color": "#f7f7f7", "border-style": "dashed", "text-valign": "top", "text-halign": "center",
        "font-weight": "bold", "padding": 10}},
    # a collapsed block is what a long model is read by: larger type survives fitting 48 of them
    {"selector": ".block", "style": {"font-weight": "bold", "font-size": 18, "height": 50, "text-max-width": 196}},
    {"selector": ":selected", "style": {"border-width": 4, "border-color": "#d95f02"}},
    {"selector": "edge", "style": {
        "width": 2, "line-color": "#969696", "target-arrow-color": "#969696", "target-arrow-shape": "triangle",
        "curve-style": "bezier"}},
    {"selector": ".residual", "style": {
        "line-color": "#2171b5", "target-arrow-color": "#2171b5", "curve-style": "unbundled-bezier",
        "control-point-distances": [-240], "control-point-weights": [0.5]}},
    {"selector": ".tied", "style": {
        "line-style": "dashed", "line-color": "#bdbdbd", "target-arrow-shape": "none",
        "curve-style": "unbundled-bezier", "control-point-distances": [-400], "control-point-weights": [0.5]}},
]


# The dark theme's graph (assets/model.css gives its box the background): the same shapes, deep
# fills under light labels, lighter edges. Appended to STYLESHEET, so its rules win; the colours of a
# statistic (stylesheets()) come after both and pick their own label colour.
DARK_TEXT = "#f1f3f5"
DARK_KIND_COLOURS = {
    "input": "#3d434a", "embedding": "#1f4b73", "layernorm": "#6e4315", "linear": "#2a5526",
    "attention": "#48406e", "add": "#2b3035", "activation": "#73301f", "block": "#3d434a",
}
DARK_STYLESHEET: list[dict] = STYLESHEET + [
    {"selector": "node", "style": {"color": DARK_TEXT, "border-color": "#8c959f"}},
    *({"selector": f".{kind}", "style": {"background-color": fill}} for kind, fill in DARK_KIND_COLOURS.items()),
    {"selector": ".expanded", "style": {"background-color": "#25292d", "border-color": "#6c757d"}},
    {"selector": ":selected", "style": {"border-width": 4, "border-color": "#fd8d3c"}},
    {"selector": "edge", "style": {"line-color": "#8c959f", "target-arrow-color": "#8c959f"}},
    {"selector": ".residual", "style": {"line-color": "#6ea8fe", "target-arrow-color": "#6ea8fe"}},
    {"selector": ".tied", "style": {"line-color": "#6c757d"}},
]
# a node without a value of the chosen statistic, per theme: (fill, label)
NO_VALUE = {"light": ("#eeeeee", "#555555"), "dark": ("#2b3035", "#adb5bd")}
THEMES = ("light", "dark")


def stylesheets(colours: Mapping[str, str]) -> dict[str, list[dict]]:
    """The graph's stylesheet for each theme: by kind of part, or with each coloured node's fill
    (and a label colour that reads on it) while the nodes without a value turn grey."""
    out = {}
    for theme, base in zip(THEMES, (STYLESHEET, DARK_STYLESHEET)):
        rules = list(base)
        if colours:
            fill, label = NO_VALUE[theme]
            rules.append({"selector": "node[bg]", "style": {"background-color": fill, "color": label}})
            rules += [{"selector": f'node[id = "{node}"]', "style": {"background-color": c, "color": text_colour(c)}}
                      for node, c in colours.items()]
        out[theme] = rules
    return out


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on `fill` (#rrggbb or rgb(r, g, b))."""
    r, g, b = _rgb(fill)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _rgb(colour: str) -> tuple[float, float, float]:
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    r, g, b = (float(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(","))
    return r, g, b


# -- colouring by a statistic --------------------------------------------------------------

@dataclass(frozen=True)
class ColourScale:
    """Maps values of one statistic to Viridis; `log` scales decade-spanning statistics."""

    lo: float
    hi: float
    log: bool

    def position(self, value: float) -> float:
        a, b, x = (math.log10(self.lo), math.log10(self.hi), math.log10(value)) if self.log else (self.lo, self.hi, value)
        return 0.5 if b == a else min(1.0, max(0.0, (x - a) / (b - a)))

    def colour(self, value: float) -> str:
        return sample_colorscale(COLORSCALE, [self.position(value)])[0]

    def ticks(self, n: int = 5) -> list[tuple[float, str]]:
        """(position 0..1, label) pairs for the legend."""
        out = []
        for k in range(n):
            t = k / (n - 1)
            value = (10 ** (math.log10(self.lo) + t * (math.log10(self.hi) - math.log10(self.lo)))
                     if self.log else self.lo + t * (self.hi - self.lo))
            out.append((t, f"{value:.3g}"))
        return out

    def gradient_css(self) -> str:
        stops = sample_colorscale(COLORSCALE, [k / 10 for k in range(11)])
        return "linear-gradient(to right, " + ", ".join(f"{c} {k * 10}%" for k, c in enumerate(stops)) + ")"


def colour_scale(stat: str, values: Sequence[float]) -> ColourScale | None:
    """The scale over the finite (and, for log statistics, positive) values; None when there are none."""
    log = stat in LOG_STATS
    usable = [x for x in values if math.isfinite(x) and (x > 0 or not log)]
    if not usable:
        return None
    return ColourScale(min(usable), max(usable), log)


def stat_keys(keys: Sequence[str], stat: str) -> list[str]:
    """The layer-statistics keys of one statistic, in graph order (blocks, then tensors by name)."""
    found = [(parse_stat_key(k), k) for k in keys]
    chosen = [(p, k) for p, k in found if p is not None and p.stat == stat]
    return [k for p, k in sorted(chosen, key=lambda pk: (pk[0].block if pk[0].block is not None else -1,
                                                          pk[0].tensor or "", pk[1]))]


def steps_of(series: Mapping[str, Series]) -> list[int]:
    """Every step at which any of these series has a value, ascending."""
    if not series:
        return []
    return sorted(set(np.concatenate([s for s, _ in series.values()]).astype(int).tolist()))


def value_at(s: Series, step: int) -> float | None:
    """The value at `step`, or the latest one before it; None if the series starts later."""
    steps, values = s
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return None if i < 0 else float(values[i])


def node_values(arch: Architecture, expanded: Sequence[int], stat: str, series: Mapping[str, Series],
                step: int) -> dict[str, float]:
    """The value of `stat` at `step` for each drawn node that has one.

    Residual-stream statistics belong to a block: its collapsed node, or its output (add_2) when
    expanded. Parameter statistics belong to the module owning the weight (its bias is left out);
    a collapsed block shows the mean over its weight matrices.
    """
    open_ = set(expanded)
    out: dict[str, float] = {}
    per_block: dict[int, list[float]] = {}
    for key, s in series.items():
        parsed = parse_stat_key(key)
        if parsed is None or parsed.stat != stat:
            continue
        value = value_at(s, step)
        if value is None:
            continue
        if stat in ACTIVATION_STATS:
            node = f"{parsed.node}.add_2" if parsed.block in open_ else parsed.node
            out[node] = value
        elif parsed.tensor is not None and parsed.tensor.endswith(".weight"):
            if parsed.block is None or parsed.block in open_:
                out[parsed.node] = value
            else:
                per_block.setdefault(parsed.block, []).append(value)
    for i, vals in per_block.items():
        finite = [x for x in vals if math.isfinite(x)]
        out[block_id(i)] = float(np.mean(finite)) if finite else math.nan
    if "transformer.wte" in out:
        out["lm_head"] = out["transformer.wte"]  # the same tensor
    return out


# -- node details ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorRow:
    name: str
    shape: str
    count: str
    share: str
    note: str


@dataclass(frozen=True)
class NodeDetail:
    title: str
    node_id: str
    summary: list[tuple[str, str]]
    tensors: list[TensorRow]
    explanation: str


def node_detail(arch: Architecture, node_id: str, value: float | None = None, stat: str | None = None) -> NodeDetail:
    """What the detail panel shows for a node (a leaf or a block); KeyError for an unknown id."""
    total = arch.totals.total
    parts = node_id.split(".")
    if len(parts) == 3 and parts[:2] == ["transformer", "h"] and parts[2].isdigit():
        i = int(parts[2])
        s = block_summary(arch, i)
        title, tensors, count, flops = f"block {i} (transformer.h.{i})", s.params, s.param_count, s.flops_per_token
        shape = arch.node(f"{node_id}.add_2").activation_shape
        explanation = explain_block(arch.config, i)
    else:
        node = arch.node(node_id)
        title, tensors, count, flops = node.label, node.params, node.param_count, node.flops_per_token
        shape, explanation = node.activation_shape, node.explanation
    summary = [
        ("parameters", f"{count:,} ({count / total:.2%} of {total:,})"),
        ("output shape", str(shape)),
        ("forward FLOPs per token", f"{flops:,} ({human(flops)})"),
    ]
    if stat is not None and value is not None:
        summary.append((STAT_LABELS.get(stat, stat), f"{value:.4g}"))
    rows = [TensorRow(t.name, str(t.shape), f"{t.numel:,}",
                      "shared" if t.tied_to else f"{t.numel / total:.2%}",
                      f"tied to {t.tied_to}: counted there" if t.tied_to else "") for t in tensors]
    return NodeDetail(title, node_id, summary, rows, explanation)


# -- figures ---------------------------------------------------------------------------------

def heatmap_figure(stat: str, series: Mapping[str, Series], height: int | None = None) -> dict:
    """Layer (or tensor) × step heatmap of one statistic; log10 colours for decade-spanning ones."""
    keys = stat_keys(list(series), stat)
    steps = steps_of({k: series[k] for k in keys})
    log = stat in LOG_STATS
    z = np.full((len(keys), len(steps)), np.nan)
    col = {s: j for j, s in enumerate(steps)}
    for r, key in enumerate(keys):
        s, v = series[key]
        for step, value in zip(s.tolist(), v.tolist()):
            z[r, col[int(step)]] = value
    raw = z.copy()
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(z > 0, np.log10(z), np.nan)
    labels = [_row_label(k) for k in keys]
    finite = z[np.isfinite(z)]
    colorbar: dict = {"title": {"text": "log10" if log else ""}, "thickness": 12}
    if log and finite.size:
        lo, hi = math.floor(finite.min()), math.ceil(finite.max())
        ticks = list(range(lo, hi + 1))
        colorbar.update(tickvals=ticks, ticktext=[f"1e{t}" for t in ticks], title={"text": ""})
    z_list = [[None if not math.isfinite(x) else x for x in row] for row in z.tolist()]
    raw_list = [[None if not math.isfinite(x) else x for x in row] for row in raw.tolist()]
    trace = {"type": "heatmap", "x": steps, "y": labels, "z": z_list, "customdata": raw_list,
             "colorscale": COLORSCALE, "colorbar": colorbar, "hoverongaps": False,
             "hovertemplate": "%{y}<br>step %{x}<br>%{customdata:.4g}<extra></extra>"}
    rows = max(1, len(keys))
    return {"data": [trace], "layout": {
        "title": {"text": STAT_LABELS.get(stat, stat), "x": 0.01, "font": {"size": 14}},
        "height": height or min(900, 120 + 18 * rows),
        "margin": {"l": 10, "r": 10, "t": 34, "b": 40},
        "xaxis": {"title": {"text": "step"}},
        "yaxis": {"autorange": "reversed", "automargin": True, "tickfont": {"size": 10}},
        "uirevision": f"heatmap {stat}",  # a zoom lasts while new steps arrive (the figure is rebuilt each time)
        "paper_bgcolor": "white", "plot_bgcolor": "white"}}


def _row_label(key: str) -> str:
    parsed = parse_stat_key(key)
    if parsed is None:
        return key
    if parsed.tensor is None:
        return f"h.{parsed.block}"
    return parsed.tensor.replace("transformer.", "")


def visible_token(token: str) -> str:
    """A probe character as an axis label: whitespace made visible."""
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(token, token)


GRID_MARGIN = {"l": 64, "r": 70, "t": 60, "b": 30}  # probe text and layer names | colour bar; title and head names | probe text
FOCUS_PX = 560  # the focus map's natural size: square, at most this wide


def attention_grid_size(layers: int, heads: int) -> tuple[int, int]:
    """The grid's natural (width, height) in CSS px: square maps, smaller ones for many heads.
    The page keeps this aspect ratio and shrinks it to fit narrower screens."""
    size = 190 if heads <= 4 else 140 if heads <= 8 else 90
    return (GRID_MARGIN["l"] + GRID_MARGIN["r"] + size * heads + 4 * (heads - 1),
            GRID_MARGIN["t"] + GRID_MARGIN["b"] + size * layers + 4 * (layers - 1))


def attention_grid(maps: np.ndarray, tokens: Sequence[str], step: int, label_every: int | None = None) -> dict:
    """A layer × head grid of attention maps (query rows × key columns) with the probe text on the outer axes."""
    L, H, T, _ = maps.shape
    labels = [visible_token(t) for t in tokens[:T]]
    every = label_every or max(1, math.ceil(T / 12))  # a map may be 100 px wide on a phone
    ticks = list(range(0, T, every))
    # layer names as the first column's axis titles, on the left: row titles would sit on the colour bar
    fig = make_subplots(rows=L, cols=H, horizontal_spacing=0.02, vertical_spacing=0.02,
                        column_titles=[f"head {j}" for j in range(H)])
    for i in range(L):
        for j in range(H):
            z = maps[i, j].astype(np.float32)
            fig.add_heatmap(z=np.round(z, 3).tolist(), coloraxis="coloraxis", row=i + 1, col=j + 1,
                            hovertemplate=f"layer {i} head {j}<br>query %{{y}} → key %{{x}}<br>%{{z:.3f}}<extra></extra>")
    fig.update_xaxes(showticklabels=False, constrain="domain", showgrid=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", constrain="domain", showgrid=False)
    for k in range(L * H):  # square maps: each y axis keeps the scale of its own x axis
        fig.update_yaxes(scaleanchor=f"x{k + 1 if k else ''}", row=k // H + 1, col=k % H + 1)
    tick = {"tickmode": "array", "tickvals": ticks, "ticktext": [labels[t] for t in ticks],
            "showticklabels": True, "tickfont": {"size": 9}, "tickangle": 0}
    for j in range(H):
        fig.update_xaxes(tick, row=L, col=j + 1)
    for i in range(L):
        fig.update_yaxes(tick, title={"text": f"layer {i}", "font": {"size": 12}, "standoff": 4}, row=i + 1, col=1)
    width, height = attention_grid_size(L, H)
    fig.update_layout(
        title={"text": f"step {step}", "x": 0.01, "font": {"size": 13}},
        coloraxis={"colorscale": COLORSCALE, "cmin": 0, "cmax": 1, "colorbar": {"thickness": 12, "title": {"text": "p"}}},
        width=width, height=height, margin=GRID_MARGIN,
        paper_bgcolor="white", plot_bgcolor="white")
    return fig.to_plotly_json()


def attention_focus(maps: np.ndarray, tokens: Sequence[str], layer: int, head: int, step: int) -> dict:
    """One head's attention map, large, with every probe character on both axes."""
    L, H, T, _ = maps.shape
    if not (0 <= layer < L and 0 <= head < H):
        raise IndexError(f"layer {layer}, head {head} is outside this model ({L} layers × {H} heads)")
    labels = [f"{visible_token(t)} ({i})" for i, t in enumerate(tokens[:T])]
    z = np.round(maps[layer, head].astype(np.float32), 3)
    trace = {"type": "heatmap", "z": z.tolist(), "x": labels, "y": labels, "coloraxis": "coloraxis",
             "hovertemplate": "query %{y} → key %{x}<br>p = %{z:.3f}<extra></extra>"}
    tick = {"tickmode": "array", "tickvals": labels, "ticktext": [visible_token(t) for t in tokens[:T]],
            "tickfont": {"size": 9, "family": "monospace"}, "tickangle": 0, "showgrid": False, "constrain": "domain"}
    return {"data": [trace], "layout": {
        "title": {"text": f"layer {layer} · head {head} · step {step}", "x": 0.01, "font": {"size": 13}},
        "xaxis": {**tick, "side": "top"},
        "yaxis": {**tick, "autorange": "reversed", "scaleanchor": "x"},
        "coloraxis": {"colorscale": COLORSCALE, "cmin": 0, "cmax": 1, "colorbar": {"thickness": 12}},
        "width": FOCUS_PX, "height": FOCUS_PX, "margin": {"l": 40, "r": 10, "t": 70, "b": 10},
        "uirevision": f"focus {layer} {head}",
        "paper_bgcolor": "white", "plot_bgcolor": "white"}}
