// Copies ui/static/ (index.html, css, ...) into ui/dist/ next to the compiled js.
import { cpSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
cpSync(resolve(root, "static"), resolve(root, "dist"), { recursive: true });
