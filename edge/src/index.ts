/** The edge Worker's entry: the only default export. */
import { createApp } from './app.ts';

export default createApp();
