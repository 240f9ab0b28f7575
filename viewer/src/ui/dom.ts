type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined | EventListener>;

/**
 * Creates an element: attributes by name (`on…` functions become listeners, `false`/undefined are
 * left out), children as nodes or text.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function replaceChildren(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren(...children.flat().filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
}

/** A thumbnail the archive could not draw (an image it cannot decode either) leaves an empty frame, not a broken-image icon. */
export function hideBrokenImage(event: Event): void {
  (event.target as HTMLImageElement).style.visibility = 'hidden';
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with its attributes (`h` makes HTML elements only): the statistics and status charts are drawn with these. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}
