<?php
/**
 * SNLP_Api_Client against canned HTTP answers shaped like the API's contract.
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class ApiClientTest extends TestCase {

	const TOKEN = 'snlp_live_0123456789abcdefSECRET';

	protected function setUp(): void {
		Fake_Http::reset();
	}

	private function client( $base = 'https://api.example.test/' ) {
		return new SNLP_Api_Client( $base, self::TOKEN, 4, 'test-agent' );
	}

	private static function problem( $status, $type, $title, $detail ) {
		return array(
			'type'   => $type,
			'title'  => $title,
			'status' => $status,
			'detail' => $detail,
		);
	}

	public function test_classify_sends_bearer_json_and_parses_predictions() {
		Fake_Http::answer(
			200,
			array(
				'model'       => array( 'name' => 'sentiment', 'version' => '20261127-int8' ),
				'predictions' => array(
					array(
						'label'  => 'positive',
						'score'  => 0.91,
						'scores' => array( 'negative' => 0.02, 'neutral' => 0.07, 'positive' => 0.91 ),
					),
					array(
						'label'  => 'negative',
						'score'  => 0.8,
						'scores' => array( 'negative' => 0.8, 'neutral' => 0.15, 'positive' => 0.05 ),
					),
				),
			),
			array( 'Content-Type' => 'application/json' )
		);

		$out = $this->client()->classify( array( 'I love it', 'Awful' ), 'sentiment' );

		$this->assertFalse( is_wp_error( $out ) );
		$this->assertCount( 2, $out );
		$this->assertSame( 'positive', $out[0]['label'] );
		$this->assertEqualsWithDelta( 0.91, $out[0]['score'], 1e-9 );
		$this->assertSame( array( 'negative', 'neutral', 'positive' ), array_keys( $out[0]['scores'] ) );
		$this->assertSame( 'sentiment@20261127-int8', $out[0]['model'] );
		$this->assertSame( 'negative', $out[1]['label'] );

		$this->assertCount( 1, Fake_Http::$sent );
		$sent = Fake_Http::$sent[0];
		$this->assertSame( 'https://api.example.test/v1/classify', $sent['url'] );
		$this->assertSame( 'POST', $sent['args']['method'] );
		$this->assertSame( 'Bearer ' . self::TOKEN, $sent['args']['headers']['Authorization'] );
		$this->assertSame( 'application/json', $sent['args']['headers']['Content-Type'] );
		$this->assertEquals( 4.0, $sent['args']['timeout'] );
		$this->assertSame( 0, $sent['args']['redirection'], 'a redirect must not carry the token elsewhere' );
		$this->assertSame(
			array( 'model' => 'sentiment', 'texts' => array( 'I love it', 'Awful' ) ),
			json_decode( $sent['args']['body'], true )
		);
	}

	public function test_score_falls_back_to_the_labels_probability() {
		Fake_Http::answer( 200, array( 'model' => 'sentiment', 'predictions' => array( array( 'label' => 'neutral', 'scores' => array( 'neutral' => 0.6, 'positive' => 0.4 ) ) ) ) );
		$out = $this->client()->classify( array( 'ok' ), 'sentiment' );
		$this->assertEqualsWithDelta( 0.6, $out[0]['score'], 1e-9 );
		$this->assertSame( 'sentiment', $out[0]['model'] );
	}

	public function test_models_lists_names_with_task_and_labels() {
		Fake_Http::answer(
			200,
			array(
				'models' => array(
					array( 'name' => 'sentiment', 'task' => 'classify', 'version' => 'v3', 'labels' => array( 'negative', 'neutral', 'positive' ) ),
					array( 'name' => 'minilm-embed', 'task' => 'embed' ),
					array( 'nonsense' => true ),
				),
			)
		);
		$models = $this->client()->models();
		$this->assertSame( array( 'sentiment', 'minilm-embed' ), array_column( $models, 'name' ) );
		$this->assertSame( 'classify', $models[0]['task'] );
		$this->assertSame( array( 'negative', 'neutral', 'positive' ), $models[0]['labels'] );
		$this->assertSame( 'GET', Fake_Http::$sent[0]['args']['method'] );
		$this->assertSame( 'https://api.example.test/v1/models', Fake_Http::$sent[0]['url'] );
		$this->assertArrayNotHasKey( 'body', Fake_Http::$sent[0]['args'] );
	}

	public function test_models_reads_the_openai_style_list() {
		Fake_Http::answer(
			200,
			array(
				'object' => 'list',
				'data'   => array(
					array( 'id' => 'sentiment', 'object' => 'model', 'aliases' => array( 'prod' => '20261127-int8', 'fp32' => '20261127-fp32' ), 'versions' => array( '20261127-int8', '20261127-fp32' ) ),
					array( 'id' => 'minilm-embed', 'object' => 'model', 'aliases' => array(), 'versions' => array() ),
				),
			)
		);
		$models = $this->client()->models();
		$this->assertSame( array( 'sentiment', 'minilm-embed' ), array_column( $models, 'name' ) );
		$this->assertSame( '20261127-int8', $models[0]['version'] );
		$this->assertSame( '', $models[1]['version'] );
	}

	public function test_embed_returns_float_vectors() {
		Fake_Http::answer( 200, array( 'model' => 'minilm-embed', 'embeddings' => array( array( 0.6, 0.8 ), array( 1, 0 ) ) ) );
		$out = $this->client()->embed( array( 'a', 'b' ), 'minilm-embed' );
		$this->assertSame( array( array( 0.6, 0.8 ), array( 1.0, 0.0 ) ), $out );
		$this->assertSame( 'https://api.example.test/v1/embed', Fake_Http::$sent[0]['url'] );
	}

	/**
	 * @dataProvider statuses
	 */
	public function test_error_statuses_are_classified( $status, $code, $retryable ) {
		Fake_Http::answer( $status, self::problem( $status, 'https://errors.example/x', 'Title', 'Something specific' ), array( 'Content-Type' => 'application/problem+json' ) );
		$err = $this->client()->classify( array( 'x' ), 'sentiment' );
		$this->assertTrue( is_wp_error( $err ) );
		$this->assertSame( $code, $err->get_error_code() );
		$data = $err->get_error_data();
		$this->assertSame( $status, $data['status'] );
		$this->assertSame( $retryable, $data['retryable'] );
		$this->assertSame( 'Something specific', $data['detail'] );
		$this->assertSame( 'https://errors.example/x', $data['type'] );
	}

	public static function statuses() {
		return array(
			'unauthorised'  => array( 401, SNLP_Api_Client::ERR_AUTH, false ),
			'forbidden'     => array( 403, SNLP_Api_Client::ERR_AUTH, false ),
			'quota'         => array( 429, SNLP_Api_Client::ERR_QUOTA, true ),
			'unavailable'   => array( 503, SNLP_Api_Client::ERR_UNAVAILABLE, true ),
			'server error'  => array( 500, SNLP_Api_Client::ERR_UNAVAILABLE, true ),
			'unknown model' => array( 404, SNLP_Api_Client::ERR_NOT_FOUND, false ),
			'validation'    => array( 422, SNLP_Api_Client::ERR_INVALID, false ),
			'too large'     => array( 413, SNLP_Api_Client::ERR_INVALID, false ),
		);
	}

	public function test_quota_error_carries_retry_after_seconds() {
		Fake_Http::answer( 429, self::problem( 429, 'quota', 'Quota exceeded', 'Daily quota used' ), array( 'Retry-After' => '120' ) );
		$err = $this->client()->classify( array( 'x' ), 'sentiment' );
		$this->assertSame( SNLP_Api_Client::ERR_QUOTA, $err->get_error_code() );
		$this->assertSame( 120, $err->get_error_data()['retry_after'] );
	}

	public function test_retry_after_accepts_seconds_and_http_dates() {
		$now = 1800000000;
		$this->assertSame( 30, SNLP_Api_Client::parse_retry_after( '30', $now ) );
		$this->assertSame( 90, SNLP_Api_Client::parse_retry_after( gmdate( 'D, d M Y H:i:s', $now + 90 ) . ' GMT', $now ) );
		$this->assertSame( 0, SNLP_Api_Client::parse_retry_after( gmdate( 'D, d M Y H:i:s', $now - 90 ) . ' GMT', $now ) );
		$this->assertNull( SNLP_Api_Client::parse_retry_after( '', $now ) );
		$this->assertNull( SNLP_Api_Client::parse_retry_after( 'soon-ish', $now ) );
	}

	public function test_unreachable_api_is_a_retryable_network_error() {
		Fake_Http::fail( 'cURL error 7: Failed to connect' );
		$err = $this->client()->models();
		$this->assertSame( SNLP_Api_Client::ERR_NETWORK, $err->get_error_code() );
		$this->assertTrue( $err->get_error_data()['retryable'] );
		$this->assertSame( 0, $err->get_error_data()['status'] );
	}

	public function test_error_body_that_is_not_json_still_classifies() {
		Fake_Http::answer( 502, '<html>Bad gateway</html>' );
		$err = $this->client()->classify( array( 'x' ), 'sentiment' );
		$this->assertSame( SNLP_Api_Client::ERR_UNAVAILABLE, $err->get_error_code() );
		$this->assertSame( '', $err->get_error_data()['detail'] );
	}

	/**
	 * @dataProvider bad_bodies
	 */
	public function test_unexpected_success_bodies_are_bad_responses( $body ) {
		Fake_Http::answer( 200, $body );
		$err = $this->client()->classify( array( 'one', 'two' ), 'sentiment' );
		$this->assertTrue( is_wp_error( $err ) );
		$this->assertSame( SNLP_Api_Client::ERR_BAD_RESPONSE, $err->get_error_code() );
	}

	public static function bad_bodies() {
		return array(
			'not json'       => array( 'OK' ),
			'no predictions' => array( array( 'model' => 'sentiment' ) ),
			'wrong count'    => array( array( 'predictions' => array( array( 'label' => 'positive', 'score' => 0.9 ) ) ) ),
			'no label'       => array( array( 'predictions' => array( array( 'score' => 0.9 ), array( 'score' => 0.1 ) ) ) ),
			'no score'       => array( array( 'predictions' => array( array( 'label' => 'a' ), array( 'label' => 'b' ) ) ) ),
		);
	}

	public function test_requests_use_the_safe_http_api() {
		Fake_Http::answer( 200, array( 'data' => array() ) );
		$this->client()->models();
		$this->assertTrue( Fake_Http::$sent[0]['args']['_safe'], 'wp_safe_remote_get, not wp_remote_get' );
		$this->assertFalse( Fake_Http::$sent[0]['external'], 'a public https API needs no exception' );
	}

	/**
	 * @dataProvider plain_http_elsewhere
	 */
	public function test_plain_http_is_refused_unless_loopback( $base ) {
		$err = $this->client( $base )->classify( array( 'x' ), 'sentiment' );
		$this->assertSame( SNLP_Api_Client::ERR_CONFIG, $err->get_error_code() );
		$this->assertSame( array(), Fake_Http::$sent, 'the token is never sent in the clear' );
		if ( 0 === strpos( $base, 'http://' ) ) {
			$this->assertStringContainsString( 'must use https://', $err->get_error_message() );
		}
	}

	public function plain_http_elsewhere() {
		return array( array( 'http://api.example.test' ), array( 'http://10.0.0.5:8000' ), array( 'http://127.0.0.1.example.test' ), array( 'ftp://api.example.test' ), array( 'https://user:pw@api.example.test' ) );
	}

	public function test_loopback_http_is_let_through_for_that_request_only() {
		Fake_Http::answer( 200, array( 'data' => array() ) );
		$this->client( 'http://127.0.0.1:9123' )->models();
		$sent = Fake_Http::$sent[0];
		$this->assertSame( 'http://127.0.0.1:9123/v1/models', $sent['url'] );
		$this->assertTrue( $sent['external'], 'the configured loopback host passes the safe-URL check' );
		$this->assertContains( 9123, $sent['ports'], 'and so does its port' );
		$this->assertFalse( apply_filters( 'http_request_host_is_external', false, '127.0.0.1', '' ), 'only during the request' );
		$this->assertSame( array( 80, 443, 8080 ), apply_filters( 'http_allowed_safe_ports', array( 80, 443, 8080 ), '127.0.0.1', '' ) );
		$this->assertTrue( SNLP_Api_Client::check_base_url( 'http://localhost:8000' ) );
		$this->assertTrue( SNLP_Api_Client::check_base_url( 'http://[::1]:8000' ) );
	}

	public function test_missing_configuration_sends_nothing() {
		$no_token = new SNLP_Api_Client( 'https://api.example.test', '' );
		$this->assertSame( SNLP_Api_Client::ERR_CONFIG, $no_token->models()->get_error_code() );
		$no_url = new SNLP_Api_Client( '', self::TOKEN );
		$this->assertSame( SNLP_Api_Client::ERR_CONFIG, $no_url->classify( array( 'x' ), 'sentiment' )->get_error_code() );
		$bad_scheme = new SNLP_Api_Client( 'ftp://api.example.test', self::TOKEN );
		$this->assertSame( SNLP_Api_Client::ERR_CONFIG, $bad_scheme->models()->get_error_code() );
		$this->assertSame( array(), Fake_Http::$sent );
	}

	public function test_the_token_never_appears_in_errors() {
		Fake_Http::answer( 401, self::problem( 401, 'auth', 'Unauthorized', 'Unknown token' ) );
		Fake_Http::fail( 'connection refused' );
		foreach ( array( $this->client()->models(), $this->client()->models() ) as $err ) {
			$this->assertStringNotContainsString( self::TOKEN, $err->get_error_message() . json_encode( $err->get_error_data() ) );
		}
	}
}
