// Pure helpers: map FlowClass's JSON graph + catalogue to Vue Flow elements,
// and decide whether a connection may be proposed to Python.
// No state lives here; the Python side owns the graph.

export const DRAG_MIME = "application/flowclass-node";

const FALLBACK_TYPE_COLOR = "#94a3b8";
// No red: red means "error" on this canvas.
const CATEGORY_PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#0d9488", "#0891b2", "#db2777", "#4d7c0f"];

/** Stable colour for a category name (the catalogue may override it via `categories`). */
export function categoryColor(catalogue, category) {
  const given = catalogue?.categories?.[category]?.color;
  if (given) return given;
  let hash = 0;
  for (const ch of String(category || "")) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return CATEGORY_PALETTE[hash % CATEGORY_PALETTE.length];
}

export function typeInfo(catalogue, typeName) {
  const info = catalogue?.data_types?.[typeName];
  return { title: info?.title || typeName || "?", color: info?.color || FALLBACK_TYPE_COLOR };
}

/** Index node types by id so lookups per render are O(1). */
export function specIndex(catalogue) {
  return new Map((catalogue?.node_types || []).map((spec) => [spec.type, spec]));
}

/** Stable edge id; also used to decode edge removals back to {from, to}. */
export function edgeId(edge) {
  return `${edge.from.node}:${edge.from.port}->${edge.to.node}:${edge.to.port}`;
}

/**
 * Ports for one graph node: the catalogue's, plus any port an edge uses that the
 * catalogue does not know (placeholders, version drift) so no edge dangles.
 */
export function nodePorts(spec, node, edges) {
  const inputs = (spec?.inputs || []).map((p) => ({ ...p, known: true }));
  const outputs = (spec?.outputs || []).map((p) => ({ ...p, known: true }));
  for (const edge of edges || []) {
    if (edge.to.node === node.id && !inputs.some((p) => p.name === edge.to.port)) {
      inputs.push({ name: edge.to.port, type: null, title: edge.to.port, known: false });
    }
    if (edge.from.node === node.id && !outputs.some((p) => p.name === edge.from.port)) {
      outputs.push({ name: edge.from.port, type: null, title: edge.from.port, known: false });
    }
  }
  return { inputs, outputs };
}

export function toFlowNodes(graph, catalogue, specs, selected) {
  const edges = graph?.edges || [];
  return (graph?.nodes || []).map((node) => {
    const spec = node.placeholder ? null : specs.get(node.type);
    const { inputs, outputs } = nodePorts(spec, node, edges);
    return {
      id: node.id,
      type: "flowclass",
      position: { x: Number(node.position?.x) || 0, y: Number(node.position?.y) || 0 },
      selected: node.id === selected,
      data: {
        title: node.title || spec?.title || node.type,
        category: spec?.category || "",
        color: node.placeholder || !spec ? FALLBACK_TYPE_COLOR : categoryColor(catalogue, spec.category),
        placeholder: Boolean(node.placeholder || !spec),
        message: node.message || (!spec && !node.placeholder ? `Unknown node type "${node.type}"` : ""),
        status: node.status || { state: "idle", progress: null, message: "" },
        inputs: inputs.map((p) => ({ ...p, ...portStyle(catalogue, p) })),
        outputs: outputs.map((p) => ({ ...p, ...portStyle(catalogue, p) })),
      },
    };
  });
}

function portStyle(catalogue, port) {
  const info = typeInfo(catalogue, port.type);
  return { color: info.color, typeTitle: port.type ? info.title : "unknown" };
}

export function toFlowEdges(graph, catalogue, specs) {
  const nodeType = new Map((graph?.nodes || []).map((n) => [n.id, n.type]));
  return (graph?.edges || []).map((edge) => {
    const out = specs.get(nodeType.get(edge.from.node))?.outputs?.find((p) => p.name === edge.from.port);
    const color = typeInfo(catalogue, out?.type).color;
    return {
      id: edgeId(edge),
      source: edge.from.node,
      sourceHandle: edge.from.port,
      target: edge.to.node,
      targetHandle: edge.to.port,
      style: { stroke: color, strokeWidth: 2 },
      data: { edge },
    };
  });
}

/** Whether an output type may feed an input type: same type, or listed in `compatible`. */
export function typesCompatible(catalogue, outType, inType) {
  if (!outType || !inType) return false;
  return outType === inType || (catalogue?.compatible?.[outType] || []).includes(inType);
}

/**
 * Check a proposed connection (Vue Flow orientation: source = output side).
 * Returns {ok, reason}; reason is a sentence Python can show the user.
 */
export function checkConnection(conn, graph, catalogue, specs) {
  const nodes = new Map((graph?.nodes || []).map((n) => [n.id, n]));
  const source = nodes.get(conn.source);
  const target = nodes.get(conn.target);
  if (!source || !target) return { ok: false, reason: "Unknown node." };
  if (conn.source === conn.target) return { ok: false, reason: "A node cannot be connected to itself." };
  const out = specs.get(source.type)?.outputs?.find((p) => p.name === conn.sourceHandle);
  const inp = specs.get(target.type)?.inputs?.find((p) => p.name === conn.targetHandle);
  if (source.placeholder || target.placeholder || !out || !inp) {
    return { ok: false, reason: "One of these ports is unknown to this FlowClass version." };
  }
  if (!typesCompatible(catalogue, out.type, inp.type)) {
    const o = typeInfo(catalogue, out.type).title;
    const i = typeInfo(catalogue, inp.type).title;
    return { ok: false, reason: `Output ${out.title || out.name} (${o}) does not fit input ${inp.title || inp.name} (${i}).` };
  }
  const taken = (graph?.edges || []).some((e) => e.to.node === conn.target && e.to.port === conn.targetHandle);
  if (taken) return { ok: false, reason: `Input ${inp.title || inp.name} is already connected.` };
  return { ok: true, reason: "" };
}

export function toPayload(conn) {
  return {
    from: { node: conn.source, port: conn.sourceHandle },
    to: { node: conn.target, port: conn.targetHandle },
  };
}
