/**
 * The webhook routes of the gorgon API (gorgon_nb/server/API.md, "Webhooks"): the webhooks,
 * their recent deliveries, and a replay. Requests go through the same Jupyter settings as
 * the sidebar's client, so they carry its authentication and XSRF token.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IWebhook {
  name: string;
  workflow: string;
  secret_source: string;
  secret_set: boolean;
  rate: number;
  paused: boolean;
  description: string;
  url_path: string;
}

export type DeliveryStatus = 'accepted' | 'duplicate' | 'rate_limited' | 'refused' | 'failed';

export interface IDelivery {
  id: string;
  webhook: string;
  delivery_id: string;
  received_at: number;
  status: DeliveryStatus;
  reason: string;
  event: string;
  job_id: string | null;
  job_state: string | null;
  run_id: string | null;
  replay_of: string | null;
  replayable: boolean;
}

export class WebhooksClient {
  constructor(readonly settings: ServerConnection.ISettings) {}

  async listWebhooks(): Promise<IWebhook[]> {
    return (await this._request<{ webhooks: IWebhook[] }>('webhooks')).webhooks;
  }

  async listDeliveries(limit = 30): Promise<IDelivery[]> {
    const answer = await this._request<{ deliveries: IDelivery[] }>(
      `webhook-deliveries?limit=${limit}`
    );
    return answer.deliveries;
  }

  async replay(deliveryId: string): Promise<IDelivery> {
    const path = `webhook-deliveries/${encodeURIComponent(deliveryId)}/replay`;
    return (await this._request<{ delivery: IDelivery }>(path, { method: 'POST', body: '{}' }))
      .delivery;
  }

  private async _request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'gorgon/api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new Error(
        `Cannot reach the Jupyter server (${(error as Error).message}): ` +
          'check that JupyterLab is still running.'
      );
    }
    const text = await response.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const said = body && typeof body.message === 'string' ? body.message : response.statusText;
      throw new Error(`${said} (${response.status})`);
    }
    return body as T;
  }
}
