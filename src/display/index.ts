// `agl.notebook`: display, formatters, progress bars and run info (the everyday names are also at the top of `agl`).
// The kernel's hook (src/display/hook.js) is not public: only the kernel installs it.
export { DISPLAY, isDisplayable, type Displayable, type MimeBundle } from "./protocol.js";
export { display, updateDisplay, clearOutput, newDisplayId, type DisplayOptions } from "./display.js";
export { registerFormatter, unregisterFormatter, toMimeBundle, type Formatter } from "./mime.js";
export { progress, Progress, type ProgressOptions, type ProgressExtras } from "./progress.js";
export { recordSeed, recordedSeeds, clearSeeds, runInfo, arclightVersion, type RunInfo } from "./run-info.js";
