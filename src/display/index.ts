// Public face of notebook display: agl.display, agl.progress, run info.
export { DISPLAY, isDisplayable, type Displayable, type MimeBundle } from "./protocol.js";
export { display, updateDisplay, clearOutput, newDisplayId, type DisplayOptions } from "./display.js";
export { registerFormatter, unregisterFormatter, toMimeBundle, type Formatter } from "./mime.js";
export { progress, Progress, type ProgressOptions, type ProgressExtras } from "./progress.js";
export { recordSeed, recordedSeeds, clearSeeds, runInfo, arclightVersion, type RunInfo } from "./run-info.js";
export { KERNEL_HOOK, kernelHook, setKernelHook, type KernelHook, type KernelDisplayRequest } from "./hook.js";
