// NiceGUI component file for FlowCanvas (flowclass/ui/canvas.py).
// The real component lives in the built bundle, which NiceGUI serves as the
// ES module "flowclass-canvas" (see `esm=` on the Python class); `vue` inside
// it resolves to NiceGUI's own Vue through the page's import map.
import { FlowCanvas } from "flowclass-canvas";

export default FlowCanvas;
