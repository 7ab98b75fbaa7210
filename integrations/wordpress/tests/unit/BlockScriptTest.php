<?php
/**
 * The editor script, run under Node with stand-ins for the wp.* globals (block-smoke.js).
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class BlockScriptTest extends TestCase {

	public function test_editor_script_registers_the_block() {
		$node = trim( (string) shell_exec( 'command -v node' ) );
		if ( '' === $node ) {
			$this->markTestSkipped( 'node is not installed' );
		}
		exec( escapeshellarg( $node ) . ' ' . escapeshellarg( __DIR__ . '/block-smoke.js' ) . ' 2>&1', $output, $status );
		$this->assertSame( 0, $status, implode( "\n", $output ) );
		$this->assertSame( array( 'ok' ), $output );
	}

	public function test_php_and_js_declare_the_same_attributes() {
		$js  = file_get_contents( dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment/assets/block.js' );
		$php = file_get_contents( dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment/includes/class-snlp-render.php' );
		foreach ( array( 'text', 'model' ) as $attribute ) {
			$this->assertMatchesRegularExpression( '/\b' . $attribute . ': \{ type: \'string\'/', $js );
			$this->assertMatchesRegularExpression( "/'" . $attribute . "'\\s+=> array\\(/", $php );
		}
		$this->assertStringContainsString( "'serverless-nlp/sentiment'", $js );
		$this->assertStringContainsString( "const BLOCK = 'serverless-nlp/sentiment';", $php );
	}
}
