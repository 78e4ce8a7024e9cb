import { mount } from "svelte";
import "./app.css";
import Insecure from "./components/Insecure.svelte";

const target = document.getElementById("app")!;

// WebCrypto exists only in secure contexts (localhost or HTTPS). Without it
// nothing can be signed or opened, so explain instead of loading the app.
if (!window.isSecureContext || !globalThis.crypto?.subtle) {
  mount(Insecure, { target });
} else {
  const { default: App } = await import("./App.svelte");
  mount(App, { target });
}
