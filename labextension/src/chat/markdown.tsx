/**
 * A message's Markdown, rendered as in notebooks (code highlighted), with Copy and "Insert
 * into notebook" on every code block.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMime, IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { addBelowIcon, copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

/** What the code blocks' buttons do; `canInsert` is false when no notebook is open. */
export interface ICodeActions {
  canInsert(): boolean;
  insert(code: string): void;
}

const NO_NOTEBOOK_HINT = 'Open a notebook to insert this code into it';
const INSERT_HINT = 'Insert into the notebook, as a new cell below its active cell';

const MIN_INTERVAL = 80; // ms between renders of a message that is still streaming

/**
 * JupyterLab's Markdown takes `$...$` for LaTeX, but a dollar before a digit is money
 * ("$0.12 and $3"): those are escaped, outside code.
 */
const CODE_OR_MONEY = /(```[\s\S]*?(?:```|$)|`[^`\n]*`)|(?<!\\)\$(?=\d)/g;

function escapeMoney(source: string): string {
  return source.replace(CODE_OR_MONEY, (_, code: string | undefined) => code ?? '\\$');
}

/**
 * The message's Markdown through JupyterLab's renderer (untrusted, so sanitized). A message
 * that streams changes faster than it renders: each render takes the newest text, one at
 * a time.
 */
export function Markdown(props: {
  source: string;
  rendermime: IRenderMimeRegistry;
  actions: ICodeActions;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<IRenderMime.IRenderer | null>(null);
  const latest = React.useRef(props.source);
  const rendered = React.useRef<string | null>(null);
  const busy = React.useRef(false);
  const actions = React.useRef(props.actions);
  actions.current = props.actions;

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
          new MimeModel({ data: { 'text/markdown': escapeMoney(source) }, trusted: false })
        );
        rendered.current = source;
        decorateCode(current.node, actions.current);
        const wait = MIN_INTERVAL - (Date.now() - started);
        if (wait > 0 && rendered.current !== latest.current) {
          await new Promise(resolve => setTimeout(resolve, wait));
        }
      }
    } finally {
      busy.current = false;
    }
  }, []);

  React.useEffect(() => {
    const created = props.rendermime.createRenderer('text/markdown');
    renderer.current = created;
    rendered.current = null;
    host.current?.appendChild(created.node);
    void render();
    return () => {
      renderer.current = null;
      created.node.remove();
      created.dispose();
    };
  }, [props.rendermime]);

  React.useEffect(() => {
    latest.current = props.source;
    void render();
  }, [props.source]);

  return <div className="jp-gorgon-rendered jp-gorgon-markdown" ref={host} />;
}

/** Give every code block its buttons (again after each render, which replaces them). */
function decorateCode(root: HTMLElement, actions: ICodeActions): void {
  for (const pre of Array.from(root.querySelectorAll('pre'))) {
    if (pre.parentElement?.classList.contains('jp-gorgon-code')) {
      continue;
    }
    const wrapper = document.createElement('div');
    wrapper.className = 'jp-gorgon-code';
    pre.replaceWith(wrapper);
    wrapper.appendChild(pre);
    const code = () => (pre.textContent ?? '').replace(/\n$/, '');

    const bar = document.createElement('div');
    bar.className = 'jp-gorgon-code-actions';
    const copy = button('jp-gorgon-copy', 'Copy', 'Copy this code', copyIcon);
    copy.addEventListener('click', () => {
      Clipboard.copyToSystem(code());
      flash(copy, 'Copied');
    });
    const insert = button('jp-gorgon-insert', 'Insert', INSERT_HINT, addBelowIcon);
    insert.addEventListener('click', () => {
      actions.insert(code());
      flash(insert, 'Inserted');
    });
    bar.append(copy, insert);
    wrapper.appendChild(bar);
  }
  updateInsertButtons(root, actions.canInsert());
}

/** Enable or disable every Insert button under `root` (a notebook opened or closed). */
export function updateInsertButtons(root: HTMLElement, enabled: boolean): void {
  for (const insert of Array.from(
    root.querySelectorAll<HTMLButtonElement>('button.jp-gorgon-insert')
  )) {
    insert.disabled = !enabled;
    insert.title = enabled ? INSERT_HINT : NO_NOTEBOOK_HINT;
  }
}

function button(
  className: string,
  label: string,
  title: string,
  icon: typeof copyIcon
): HTMLButtonElement {
  const element = document.createElement('button');
  element.className = `jp-gorgon-code-button ${className}`;
  element.title = title;
  element.type = 'button';
  const glyph = icon.element({ tag: 'span', className: 'jp-gorgon-code-icon' });
  const text = document.createElement('span');
  text.className = 'jp-gorgon-code-label';
  text.textContent = label;
  element.append(glyph, text);
  return element;
}

function flash(element: HTMLButtonElement, text: string): void {
  const label = element.querySelector<HTMLElement>('.jp-gorgon-code-label');
  if (!label) {
    return;
  }
  const original = (label.dataset.label ??= label.textContent ?? '');
  label.textContent = text;
  window.setTimeout(() => (label.textContent = original), 1200);
}
