// The `agl.charts` namespace: the general charts and the prompt-optimization ones.
export * from "./charts.js";
export * from "./apo-charts.js";
