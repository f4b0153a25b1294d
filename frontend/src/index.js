// Bundle entry, served by NiceGUI as the ES module "flowclass-canvas".
// `vue` stays external so the component runs on NiceGUI's own Vue instance;
// all CSS below ends up in one file (flowclass-canvas.css) the component loads.
import "@vue-flow/core/dist/style.css";
import "@vue-flow/core/dist/theme-default.css";
import "@vue-flow/controls/dist/style.css";
import "@vue-flow/minimap/dist/style.css";
import "./canvas.css";
import FlowCanvas from "./FlowCanvas.vue";

export { FlowCanvas };
export default FlowCanvas;
