// A hash router: the desktop shell loads index.html from disk, where only the hash can change
// without a reload. Routes are few and flat; each maps to one screen.

export type RouteName =
  | 'projects'
  | 'project'
  | 'models'
  | 'prompts'
  | 'label'
  | 'finetune'
  | 'versions'
  | 'arena'
  | 'annotators'
  | 'history'
  | 'rejudge'
  | 'playground'
  | 'settings'
  | 'team'
  | 'not-found';

export interface Route {
  name: RouteName;
  /** `project`: the project id; `label`: the judgment kind; `history` (optional), `rejudge`: a judgment id. */
  param: string | null;
}

const LABEL_KINDS = ['comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration'];

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+|\/+$/g, '');
  const [head = '', second = null, ...rest] = path.split('/');
  if (rest.length > 0) return { name: 'not-found', param: null };
  switch (head) {
    case '':
    case 'projects':
      if (second === null) return { name: 'projects', param: null };
      return /^\d+$/.test(second) ? { name: 'project', param: second } : { name: 'not-found', param: null };
    case 'label':
      if (second === null) return { name: 'label', param: null };
      return LABEL_KINDS.includes(second) ? { name: 'label', param: second } : { name: 'not-found', param: null };
    case 'history':
      if (second === null) return { name: 'history', param: null };
      return /^\d+$/.test(second) ? { name: 'history', param: second } : { name: 'not-found', param: null };
    case 'rejudge':
      return second !== null && /^\d+$/.test(second) ? { name: 'rejudge', param: second } : { name: 'not-found', param: null };
    case 'versions':
      if (second === 'arena') return { name: 'arena', param: null };
      return second === null ? { name: 'versions', param: null } : { name: 'not-found', param: null };
    case 'models':
    case 'playground':
    case 'prompts':
    case 'finetune':
    case 'annotators':
    case 'settings':
    case 'team':
      return second === null ? { name: head, param: null } : { name: 'not-found', param: null };
    default:
      return { name: 'not-found', param: null };
  }
}

export function href(name: Exclude<RouteName, 'not-found'>, param: string | number | null = null): string {
  switch (name) {
    case 'project':
      return `#/projects/${param}`;
    case 'label':
      return param === null ? '#/label' : `#/label/${param}`;
    case 'arena':
      return '#/versions/arena';
    case 'history':
      return param === null ? '#/history' : `#/history/${param}`;
    case 'rejudge':
      return `#/rejudge/${param}`;
    default:
      return `#/${name}`;
  }
}

class Router {
  route = $state<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => (this.route = parseHash(location.hash)));
    }
  }

  go(target: string) {
    location.hash = target;
  }
}

export const router = new Router();
