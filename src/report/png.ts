/**
 * SVG → PNG without a browser: resvg (a Rust SVG renderer) through @resvg/resvg-js, whose native
 * binary comes as a per-platform optional npm package (no install script, no download). Loaded on
 * first use, so the rest of finetune works where no binary exists for the platform.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { chartSvg, type Chart } from './chart.js';

export interface PngOptions {
  /** Pixels per SVG unit. Default 2 (a 720×360 chart becomes 1440×720). */
  scale?: number;
  /** Font files (TTF/OTF/TTC) to use besides the system's. */
  fontFiles?: string[];
}

interface ResvgModule {
  Resvg: new (
    svg: string | Uint8Array,
    options?: {
      fitTo?: { mode: 'zoom'; value: number };
      font?: { loadSystemFonts?: boolean; fontFiles?: string[]; defaultFontFamily?: string; sansSerifFamily?: string };
      background?: string;
    },
  ) => { render(): { asPng(): Uint8Array; width: number; height: number } };
}

let resvg: ResvgModule | undefined;

function loadResvg(): ResvgModule {
  if (resvg) return resvg;
  try {
    resvg = createRequire(import.meta.url)('@resvg/resvg-js') as ResvgModule;
  } catch (error) {
    throw new Error(
      `PNG rendering needs @resvg/resvg-js with its prebuilt binary for ${process.platform}-${process.arch} ` +
        `(an optional dependency npm installs per platform): ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      { cause: error },
    );
  }
  return resvg;
}

const FONT_DIRS = [
  '/usr/share/fonts',
  '/usr/local/share/fonts',
  join(homedir(), '.fonts'),
  join(homedir(), '.local/share/fonts'),
  '/Library/Fonts',
  '/System/Library/Fonts',
  'C:\\Windows\\Fonts',
];

let systemFontFound: boolean | undefined;

/** Whether any font file is installed where resvg looks (without fonts, a PNG's text is not drawn). */
export function systemFontsAvailable(): boolean {
  if (systemFontFound !== undefined) return systemFontFound;
  const search = (dir: string, depth: number): boolean => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      if (e.isFile() && /\.(ttf|otf|ttc)$/i.test(e.name)) return true;
    }
    return depth > 0 && entries.some((e) => e.isDirectory() && search(join(dir, e.name), depth - 1));
  };
  systemFontFound = FONT_DIRS.some((d) => existsSync(d) && search(d, 3));
  return systemFontFound;
}

/** Renders an SVG document (with its xmlns) to PNG bytes. */
export function svgToPng(svg: string, options: PngOptions = {}): Uint8Array {
  const { Resvg } = loadResvg();
  const renderer = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    font: {
      loadSystemFonts: true,
      fontFiles: options.fontFiles ?? [],
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
    background: '#ffffff',
  });
  return renderer.render().asPng();
}

/** Renders a chart to PNG bytes. */
export function chartToPng(chart: Chart, options: PngOptions = {}): Uint8Array {
  return svgToPng(chartSvg(chart, { standalone: true }), options);
}

/** The width and height a PNG's IHDR chunk declares; throws when `bytes` is not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b)) throw new Error('not a PNG (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk !== 'IHDR') throw new Error(`not a PNG (first chunk is ${chunk}, not IHDR)`);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
