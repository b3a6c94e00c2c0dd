/**
 * Text shown through JupyterLab's own renderers: Markdown as in notebooks (code
 * highlighted), and the server's HTML. The model is never trusted, so the renderer
 * sanitizes the HTML it makes or is given, and no script ever runs.
 */
import { IRenderMime, IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import * as React from 'react';

const MIN_INTERVAL = 80; // ms between renders of a text that keeps changing (a stream)

export function Rendered(props: {
  mimeType: 'text/markdown' | 'text/html';
  source: string;
  rendermime: IRenderMimeRegistry;
  /** Called with the rendered node after each render (to add buttons to it, say). */
  onRender?: (node: HTMLElement) => void;
  className?: string;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<IRenderMime.IRenderer | null>(null);
  // a streamed text changes faster than it renders: each render takes the newest source,
  // and one render runs at a time
  const latest = React.useRef(props.source);
  const rendered = React.useRef<string | null>(null);
  const busy = React.useRef(false);
  const onRender = React.useRef(props.onRender);
  onRender.current = props.onRender;

  const render = React.useCallback(async () => {
    if (busy.current) {
      return;
    }
    busy.current = true;
    try {
      while (renderer.current && rendered.current !== latest.current) {
        const current = renderer.current;
        const source = latest.current;
        const started = Date.now();
        await current.renderModel(
          new MimeModel({ data: { [props.mimeType]: source }, trusted: false })
        );
        rendered.current = source;
        onRender.current?.(current.node);
        const wait = MIN_INTERVAL - (Date.now() - started);
        if (wait > 0 && rendered.current !== latest.current) {
          await new Promise(resolve => setTimeout(resolve, wait));
        }
      }
    } finally {
      busy.current = false;
    }
  }, [props.mimeType]);

  React.useEffect(() => {
    const created = props.rendermime.createRenderer(props.mimeType);
    renderer.current = created;
    rendered.current = null;
    host.current?.appendChild(created.node);
    void render();
    return () => {
      renderer.current = null;
      created.node.remove();
      created.dispose();
    };
  }, [props.rendermime, props.mimeType]);

  React.useEffect(() => {
    latest.current = props.source;
    void render();
  }, [props.source]);

  return <div className={`jp-gorgon-rendered ${props.className ?? ''}`} ref={host} />;
}
