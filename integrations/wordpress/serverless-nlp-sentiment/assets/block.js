/**
 * Editor side of the "Sentiment" block. No build step: it uses the wp.* globals that
 * WordPress loads for the dependencies declared in PHP (wp-blocks, wp-element, ...).
 * The front end is rendered by PHP (render_callback), so save() stores nothing but attributes.
 */
( function ( wp ) {
	'use strict';
	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var blockEditor = wp.blockEditor;
	var components = wp.components;
	var ServerSideRender = wp.serverSideRender;

	wp.blocks.registerBlockType( 'serverless-nlp/sentiment', {
		apiVersion: 2,
		title: __( 'Sentiment', 'serverless-nlp-sentiment' ),
		description: __( 'Shows the sentiment of a text with a confidence bar.', 'serverless-nlp-sentiment' ),
		icon: 'smiley',
		category: 'widgets',
		attributes: {
			text: { type: 'string', default: '' },
			model: { type: 'string', default: '' }
		},
		edit: function ( props ) {
			var text = props.attributes.text;
			return el(
				'div',
				blockEditor.useBlockProps(),
				el( components.TextareaControl, {
					label: __( 'Text to analyse', 'serverless-nlp-sentiment' ),
					value: text,
					onChange: function ( value ) {
						props.setAttributes( { text: value } );
					}
				} ),
				text ? el( ServerSideRender, {
					block: 'serverless-nlp/sentiment',
					attributes: props.attributes
				} ) : null
			);
		},
		save: function () {
			return null;
		}
	} );
}( window.wp ) );
