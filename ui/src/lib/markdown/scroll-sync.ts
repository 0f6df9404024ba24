// Synchronized scrolling of side-by-side panes: scrolling one moves the others of its group to
// the same proportion of their height. The echo a moved pane sends back is ignored, so panes
// do not fight.

const groups = new Map<string, Set<HTMLElement>>();
const moving = new WeakSet<HTMLElement>();

/** The scrollTop that puts `to` at the same proportion as `from`. */
export function proportionalTop(from: { scrollTop: number; scrollHeight: number; clientHeight: number }, to: { scrollHeight: number; clientHeight: number }): number {
  const range = from.scrollHeight - from.clientHeight;
  const fraction = range > 0 ? from.scrollTop / range : 0;
  return Math.round(fraction * Math.max(0, to.scrollHeight - to.clientHeight));
}

/** Adds `el` to the group while `enabled()`; returns the function that takes it out. */
export function joinScrollGroup(group: string, el: HTMLElement, enabled: () => boolean): () => void {
  let members = groups.get(group);
  if (!members) groups.set(group, (members = new Set()));
  members.add(el);
  const onscroll = () => {
    if (moving.has(el)) {
      moving.delete(el);
      return;
    }
    if (!enabled()) return;
    for (const other of members) {
      if (other === el) continue;
      const top = proportionalTop(el, other);
      if (Math.abs(other.scrollTop - top) < 1) continue;
      moving.add(other);
      other.scrollTop = top;
    }
  };
  el.addEventListener('scroll', onscroll, { passive: true });
  return () => {
    el.removeEventListener('scroll', onscroll);
    members.delete(el);
    if (members.size === 0) groups.delete(group);
  };
}
