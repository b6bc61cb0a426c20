/** Builds elements; event data only ever becomes text (text nodes), never markup. */

export function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | number>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  return e;
}

/** `08:14:03` in the browser's time zone, or '' for a missing or bad time. */
export function clock(at: string | number): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString('en-GB', { hour12: false });
}

/** Calls `resize(width, height)` whenever `target`'s box changes (charts size in pixels). */
export function onResize(target: HTMLElement, resize: (width: number, height: number) => void): void {
  new ResizeObserver(() => {
    const { width, height } = target.getBoundingClientRect();
    if (width > 0 && height > 0) resize(Math.floor(width), Math.floor(height));
  }).observe(target);
}
