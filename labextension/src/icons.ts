import { LabIcon } from '@jupyterlab/ui-components';

import gorgonSvg from '../style/icons/gorgon.svg';

/** The Gorgon's head: the sidebar's tab and the panel's title. */
export const gorgonIcon = new LabIcon({ name: 'gorgon-nb:gorgon', svgstr: gorgonSvg });
