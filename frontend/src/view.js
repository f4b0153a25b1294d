// Pure viewport arithmetic: where to look, what is on screen, where the minimap may go.
// Rectangles are {x, y, width, height}; a viewport is {x, y, zoom} (screen = flow * zoom + x).

/** Never zoom in past 1 when the canvas chooses the zoom itself (adding, fitting). */
export const MAX_AUTO_ZOOM = 1;
/** Below this zoom the smallest node text (13 px) drops under 12 px on screen. */
export const READABLE_ZOOM = 12 / 13;
const PAD = 40;
/** The zoom, Fit and minimap buttons stand 15 px in from the pane's left edge, 26 px wide:
 * a framed graph starts right of them, so none of them covers a node's ports. */
const LEFT_PAD = 60;
/** The smallest zoom the user may choose (wheel, buttons). */
export const USER_MIN_ZOOM = 0.2;
/** Fit goes further out than the user may: a node dragged far away comes back into view. */
export const FIT_MIN_ZOOM = 0.005;

/**
 * The viewport that shows `bounds` (the nodes' rectangle) in a pane of `size`.
 * It never zooms past MAX_AUTO_ZOOM; with `readable`, never below READABLE_ZOOM either:
 * a graph too large to fit readably is shown from its left end (where it starts).
 */
export function frameViewport(bounds, size, { readable = false } = {}) {
  const room = { width: size.width - LEFT_PAD - PAD, height: size.height - 2 * PAD };
  const fit = Math.min(room.width / bounds.width, room.height / bounds.height);
  const zoom = Math.min(MAX_AUTO_ZOOM, Math.max(readable ? READABLE_ZOOM : FIT_MIN_ZOOM, fit));
  const centreY = bounds.y + bounds.height / 2;
  const fitsWide = bounds.width * zoom <= room.width;
  const x = LEFT_PAD + (fitsWide ? room.width / 2 - (bounds.x + bounds.width / 2) * zoom : -bounds.x * zoom);
  const fitsHigh = bounds.height * zoom <= room.height;
  const y = fitsHigh ? size.height / 2 - centreY * zoom : PAD - bounds.y * zoom;
  return { x, y, zoom };
}

export function toScreen(rect, viewport) {
  return {
    x: rect.x * viewport.zoom + viewport.x,
    y: rect.y * viewport.zoom + viewport.y,
    width: rect.width * viewport.zoom,
    height: rect.height * viewport.zoom,
  };
}

export function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** How far to pan (screen px) so that `rect` (screen) lies inside the pane, with a margin. */
export function revealShift(rect, size, margin = PAD) {
  const shift = (start, length, room) => {
    if (length + 2 * margin > room || start < margin) return margin - start;
    if (start + length > room - margin) return room - margin - (start + length);
    return 0;
  };
  return { dx: shift(rect.x, rect.width, size.width), dy: shift(rect.y, rect.height, size.height) };
}

export const MINIMAP = { width: 160, height: 110, margin: 15 };
const CORNERS = ["bottom-right", "top-right", "top-left"];

export function cornerRect(corner, size, box = MINIMAP) {
  const x = corner.endsWith("right") ? size.width - box.margin - box.width : box.margin;
  const y = corner.startsWith("bottom") ? size.height - box.margin - box.height : box.margin;
  return { x, y, width: box.width, height: box.height };
}

// What the minimap takes beyond its box (its 1 px border), and a little room beside it.
const CLEARANCE = 4;

/** The first corner where the minimap covers none of `nodeRects` (screen), nor touches one, or null. */
export function freeCorner(nodeRects, size, box = MINIMAP) {
  if (size.width < 2 * box.width || size.height < 2 * box.height) return null;
  const taken = (corner) => {
    const r = cornerRect(corner, size, box);
    return { x: r.x - CLEARANCE, y: r.y - CLEARANCE, width: r.width + 2 * CLEARANCE, height: r.height + 2 * CLEARANCE };
  };
  return CORNERS.find((corner) => !nodeRects.some((r) => overlaps(r, taken(corner)))) ?? null;
}

/** Whether every one of `rects` (screen) lies wholly inside the pane of `size`. */
export function allInView(rects, size) {
  return rects.every((r) => r.x >= 0 && r.y >= 0 && r.x + r.width <= size.width && r.y + r.height <= size.height);
}

/**
 * The corner for the minimap: one where it covers no node; when none is free and part of the
 * graph is out of view, the first corner clear of the `selected` node (screen rect, or null),
 * bottom-right when there is none or none is selected: the minimap is then the way to reach
 * the rest. Null on a pane too small for it, or when the whole graph is in view and no corner is free.
 */
export function minimapPlace(nodeRects, size, box = MINIMAP, selected = null) {
  const free = freeCorner(nodeRects, size, box);
  if (free || size.width < 2 * box.width || size.height < 2 * box.height) return free;
  if (allInView(nodeRects, size)) return null;
  return (selected && freeCorner([selected], size, box)) || "bottom-right";
}

/** The rect (flow) among `rects` under `point` (flow), or nearest to it within `slack`; else null. */
export function rectAt(point, rects, slack = 0) {
  const gap = (r) => Math.hypot(
    Math.max(r.x - point.x, 0, point.x - (r.x + r.width)),
    Math.max(r.y - point.y, 0, point.y - (r.y + r.height)));
  let best = null;
  for (const r of rects) if (gap(r) <= slack && (!best || gap(r) < gap(best))) best = r;
  return best;
}

/** The viewport, at `zoom`, that puts `rect` (flow) in the middle of a pane of `size`. */
export function centreOn(rect, size, zoom) {
  return {
    x: size.width / 2 - (rect.x + rect.width / 2) * zoom,
    y: size.height / 2 - (rect.y + rect.height / 2) * zoom,
    zoom,
  };
}

/** Node types whose title, id, category or description contain every word of `query`. */
export function searchNodeTypes(nodeTypes, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const scored = [];
  for (const spec of nodeTypes) {
    const title = (spec.title || spec.type).toLowerCase();
    const text = `${title} ${spec.type} ${spec.category || ""} ${spec.description || ""}`.toLowerCase();
    if (!words.every((w) => text.includes(w))) continue;
    const rank = words.length && title.startsWith(words[0]) ? 0 : words.every((w) => title.includes(w)) ? 1 : 2;
    scored.push({ spec, rank });
  }
  return scored.sort((a, b) => a.rank - b.rank).map((s) => s.spec);
}
