import { createLogger, defineConfig, type Plugin } from 'vite';

/** The running Yingyun that `npm run dev:viewer` proxies DICOMweb and the API to. */
const backend = process.env.YINGYUN_BACKEND ?? 'http://127.0.0.1:8080';

/**
 * The codecs' Emscripten glue mentions Node's fs and path for running outside a browser; in the
 * browser those branches never run, so the "externalized for browser compatibility" notes are noise.
 */
const logger = createLogger();
const warn = logger.warn.bind(logger);
logger.warn = (message, options) => {
  if (message.includes('externalized for browser compatibility')) return;
  warn(message, options);
};

/**
 * Cornerstone draws each measurement label with an inline style attribute (no text selection, a
 * drop shadow), which the gateway's Content-Security-Policy (style-src 'self', no inline styles)
 * refuses, with a console error at every label. The same declarations set through the CSSOM are
 * allowed, so the build sets them that way. (The dev server sends no such policy, and serves the
 * tools pre-bundled, untouched.) Fails the build if a Cornerstone upgrade changes the line, so the
 * patch is looked at again rather than silently lost.
 */
function cornerstoneLabelsWithoutInlineStyle(): Plugin {
  const file = '@cornerstonejs/tools/dist/esm/drawingSvg/drawTextBox.js';
  const inline = "textElement.setAttribute('style', combinedStyle);";
  return {
    name: 'yingyun-cornerstone-labels-without-inline-style',
    apply: 'build',
    transform(code, id) {
      if (!id.split('?')[0]!.replaceAll('\\', '/').endsWith(file)) return null;
      if (!code.includes(inline)) throw new Error(`${file} no longer has ${inline}: check its labels against the Content-Security-Policy again`);
      return { code: code.replace(inline, 'textElement.style.cssText = combinedStyle;'), map: null };
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [cornerstoneLabelsWithoutInlineStyle()],
  base: '/',
  customLogger: logger,
  resolve: { alias: { xmlbuilder2: `${import.meta.dirname}/src/imaging/xml-reader-unavailable.ts` } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Cornerstone (with vtk.js) is one large chunk by nature; it is cached for a year under its hash.
    chunkSizeWarningLimit: 6000,
  },
  // The image loader starts its decoders as module workers, which load the WASM codecs.
  worker: { format: 'es' },
  // The loader is left unbundled in dev so its worker URL resolves; its CommonJS dependencies
  // (Emscripten codec glue, dicom-parser, pako) are pre-bundled so they import as ES modules.
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: [
      'dicom-parser',
      'pako',
      '@cornerstonejs/codec-charls/decodewasmjs',
      '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
      '@cornerstonejs/codec-libjxl/decodewasmjs',
      '@cornerstonejs/codec-openjpeg/decodewasmjs',
      '@cornerstonejs/codec-openjph/wasmjs',
      '@cornerstonejs/jpeg-lossless-decoder-js',
    ],
  },
  server: {
    host: '127.0.0.1',
    proxy: { '/dicom-web': backend, '/wado': backend, '/api': backend },
  },
});
