/**
 * Stands in for xmlbuilder2, which vtk.js's XML reader imports (Cornerstone reaches it through
 * surface meshes and the orientation-marker tool, neither of which the viewer uses). xmlbuilder2
 * needs Node's `events` module, which does not exist in the browser and would break the bundle
 * at load time; nothing here ever reads VTK XML, so the reader fails loudly if it is ever asked to.
 */
export function create(): never {
  throw new Error('VTK XML files cannot be read in the Yingyun viewer');
}
