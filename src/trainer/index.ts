export * from "./trainer.js";
