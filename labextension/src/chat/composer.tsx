/**
 * The chat's input: Enter sends, `@` suggests the roles and `/run` the workflows, Stop ends
 * what the chat is writing.
 */
import { stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ConnectionLine } from '../components';
import { ChatModel } from './model';

export function Composer(props: { model: ChatModel }): JSX.Element {
  const { model } = props;
  const [draft, setDraft] = React.useState('');
  const input = React.useRef<HTMLTextAreaElement>(null);
  const suggestions = suggest(draft, model);

  React.useEffect(() => {
    const returned = model.takeReturned();
    if (returned !== null) {
      setDraft(current => current || returned);
    }
  });

  const send = async () => {
    const text = draft;
    if (!text.trim()) {
      return;
    }
    if (!model.currentId) {
      await model.create();
    }
    if (model.send(text)) {
      setDraft('');
    }
  };

  return (
    <div className="jp-gorgon-composer">
      {model.notice && (
        <div className="jp-gorgon-chat-notice" role="alert">
          {model.notice}
        </div>
      )}
      <ConnectionLine state={model.socketState ?? 'open'} onRetry={() => model.reconnect()} />
      {suggestions.length > 0 && (
        <div className="jp-gorgon-suggestions">
          {suggestions.map(s => (
            <button
              key={s.text}
              className="jp-gorgon-suggestion"
              title={s.description}
              onClick={() => {
                setDraft(s.text);
                input.current?.focus();
              }}
            >
              {s.label}
            </button>
          ))}
        </div>
      )}
      <textarea
        ref={input}
        className="jp-mod-styled jp-gorgon-input"
        rows={3}
        value={draft}
        placeholder="Ask the agents (@role asks one, /run WORKFLOW key=value starts one)"
        title="Enter sends; Shift+Enter starts a new line"
        aria-label="Message"
        onChange={event => setDraft(event.currentTarget.value)}
        onKeyDown={event => {
          if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            void send();
          } else if (event.key === 'Tab' && suggestions.length > 0) {
            event.preventDefault();
            setDraft(suggestions[0].text);
          }
        }}
      />
      <div className="jp-gorgon-composer-bar">
        <span className="jp-gorgon-composer-buttons">
          {model.answering && (
            <button
              className="jp-Button jp-mod-styled jp-mod-warn jp-gorgon-small-button jp-gorgon-stop"
              onClick={() => model.stop()}
              title="Stop the answer and the workflows of this chat now (what they wrote is kept)"
            >
              <stopIcon.react tag="span" className="jp-gorgon-button-icon" />
              Stop
            </button>
          )}
          <button
            className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-small-button jp-gorgon-send"
            onClick={() => void send()}
            disabled={!draft.trim()}
            title="Send (Enter)"
          >
            Send
          </button>
        </span>
      </div>
    </div>
  );
}

interface ISuggestion {
  label: string;
  text: string;
  description: string;
}

/** `@pl` suggests the roles that start so; `/run da` the workflows. */
function suggest(draft: string, model: ChatModel): ISuggestion[] {
  const role = /^@(\w*)$/.exec(draft);
  if (role) {
    return model.roles
      .filter(r => r.name.startsWith(role[1]) && r.name !== role[1])
      .map(r => ({
        label: `${r.icon} @${r.name}`,
        text: `@${r.name} `,
        description: r.description
      }));
  }
  const run = /^\/(?:r|ru|run|run\s+(\S*))$/.exec(draft);
  if (run) {
    const prefix = run[1] ?? '';
    return model.workflows
      .filter(w => w.name.startsWith(prefix))
      .slice(0, 12)
      .map(w => {
        const required = Object.entries(w.inputs ?? {})
          .filter(([, spec]) => spec.required)
          .map(([key]) => ` ${key}=`);
        return {
          label: `/run ${w.name}`,
          text: `/run ${w.name}${required.join('')}`,
          description: w.description
        };
      });
  }
  return [];
}
