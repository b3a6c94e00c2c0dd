/**
 * A message's Markdown, rendered as in notebooks, with Copy and "Insert into notebook" on
 * every code block.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { addBelowIcon, copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Rendered } from '../rendered';

/** What the code blocks' buttons do; `canInsert` is false when no notebook is open. */
export interface ICodeActions {
  canInsert(): boolean;
  insert(code: string): void;
}

const NO_NOTEBOOK_HINT = 'Open a notebook to insert this code into it';
const INSERT_HINT = 'Insert into the notebook, as a new cell below its active cell';

export function Markdown(props: {
  source: string;
  rendermime: IRenderMimeRegistry;
  actions: ICodeActions;
}): JSX.Element {
  return (
    <Rendered
      mimeType="text/markdown"
      source={props.source}
      rendermime={props.rendermime}
      onRender={node => decorateCode(node, props.actions)}
      className="jp-gorgon-markdown"
    />
  );
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
