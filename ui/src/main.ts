import './locale-guard';
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { settings } from '$lib/settings.svelte';

// The settings first, so the app appears in its theme and with its keys; a shell that does
// not answer within a second does not keep the window empty (they apply when they arrive).
await Promise.race([settings.load(), new Promise((resolve) => setTimeout(resolve, 1000))]);

mount(App, { target: document.getElementById('app')! });
